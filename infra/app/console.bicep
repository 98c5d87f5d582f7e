// The operator console (console/) as an Azure Static Web App with Microsoft Entra ID sign-in, and
// App Service Authentication (authsettingsV2) on the Function App for the same Entra app registration,
// so a person's calls reach the operator API with x-ms-client-principal (their name and app roles).
//
// Static Web Apps' linked backends ("bring your own functions") are documented for Consumption,
// Premium and Dedicated plans, not Flex Consumption: the console's browser calls the Function App
// directly with an Entra access token (MSAL), and App Service Authentication validates it. See README,
// "Operator console". People call /api/console/* (anonymous at the Functions host; the app refuses a
// request without App Service Authentication's principal, and trusts one only with WEBSITE_AUTH_ENABLED,
// which the platform sets when this resource enables it). Function keys keep working for automation on
// /api/* and the webhooks: unauthenticatedClientAction AllowAnonymous, requireAuthentication false, because
// globalValidation.excludedPaths lists paths and cannot express "everything but /api/console/*" for routes
// with parameters.
param name string
param location string
param tags object = {}
param functionAppName string
@description('Application (client) id of the Entra app registration (README: Entra app registration).')
param entraClientId string
@description('Client secret of that registration, for the Static Web App\'s sign-in (stored as an app setting).')
@secure()
param entraClientSecret string
param tenantId string = tenant().tenantId

// Standard: custom Entra registration (staticwebapp.config.json auth.identityProviders) needs it.
resource console 'Microsoft.Web/staticSites@2023-12-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    allowConfigFileUpdates: true
    stagingEnvironmentPolicy: 'Disabled'
  }
}

// Read by staticwebapp.config.json: clientIdSettingName / clientSecretSettingName.
resource consoleSettings 'Microsoft.Web/staticSites/config@2023-12-01' = {
  parent: console
  name: 'appsettings'
  properties: {
    AZURE_CLIENT_ID: entraClientId
    AZURE_CLIENT_SECRET: entraClientSecret
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// App Service Authentication on the Function App: validates the console's bearer tokens (audience: the
// same registration), strips client-sent x-ms-client-* headers and sets x-ms-client-principal with the
// token's `roles` claim (app roles reader / operator), which core/authz.py reads.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
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
          clientId: entraClientId
          openIdIssuer: 'https://sts.windows.net/${tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [ 'api://${entraClientId}', entraClientId ]
        }
      }
    }
    login: { tokenStore: { enabled: false } }
  }
}

// CORS for the console's origin is added after deployment (README: az functionapp cors add): a PUT of the
// site's `web` config here would reset the rest of its site config.

output CONSOLE_NAME string = console.name
output CONSOLE_URL string = 'https://${console.properties.defaultHostname}'
