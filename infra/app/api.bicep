// The Function App: Flex Consumption, Python 3.11, one user-assigned identity, identity-based
// host storage (AzureWebJobsStorage__*) and deployment package container. No keys anywhere.
param name string
param location string
param tags object
param appServicePlanId string
param storageAccountName string
param deploymentStorageContainerName string
param identityId string
param identityClientId string
param applicationInsightsName string
@description('Settings the app code reads (core/settings.py), assembled in main.bicep.')
param appSettings object
@description('Browser origins allowed to call the app (the operator console\'s): declared here because every provision PUTs siteConfig, which would reset a CORS list set with `az functionapp cors add`.')
param corsAllowedOrigins array = []
@description('Entra app registration (client id) of the operator console; empty: no App Service Authentication.')
param consoleEntraClientId string = ''
param tenantId string = tenant().tenantId
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Host settings: the Functions runtime and the Durable extension read these, not our code.
var hostSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: appServicePlanId
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled' // zip deploy to the package container only
      http20Enabled: true
      cors: {
        allowedOrigins: corsAllowedOrigins
        supportCredentials: false // the console sends a bearer token, not cookies
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentStorageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(hostSettings, appSettings)
  }
}

// App Service Authentication for the console's Entra registration: where the platform runs it, it validates
// bearer tokens and strips client-sent x-ms-client-* headers. The app does not rely on it: /api/console/*
// validates the bearer token itself (core/kernel/authz.py), since Flex Consumption documentation (preview
// revision) said EasyAuth was not supported there.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(consoleEntraClientId)) {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: consoleEntraClientId
          openIdIssuer: 'https://sts.windows.net/${tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [ 'api://${consoleEntraClientId}', consoleEntraClientId ]
        }
      }
    }
    login: { tokenStore: { enabled: false } }
  }
}

output SERVICE_API_NAME string = functionApp.name
output SERVICE_API_URI string = 'https://${functionApp.properties.defaultHostName}'
output id string = functionApp.id
