// The operator console (console/) as an Azure Static Web App with Microsoft Entra ID sign-in. The Function
// App's side (App Service Authentication for the same Entra registration, and CORS for this site's origin)
// is in api.bicep, so the site is created first and its origin reaches the Function App's siteConfig.
//
// `location` must be a Static Web Apps region (westus2, centralus, eastus2, westeurope, eastasia): main.bicep
// picks one (consoleLocation) instead of the app's region.
//
// Static Web Apps' linked backends ("bring your own functions") are documented for Consumption,
// Premium and Dedicated plans, not Flex Consumption: the console's browser calls the Function App
// directly with an Entra access token (MSAL), and the app validates that token itself (core/kernel/authz.py:
// signature against the tenant's JWKS, issuer, audience, expiry, roles), whether or not the platform's
// App Service Authentication ran. See README, "Operator console". Function keys keep working for automation on
// /api/* and the webhooks: unauthenticatedClientAction AllowAnonymous, requireAuthentication false, because
// globalValidation.excludedPaths lists paths and cannot express "everything but /api/console/*" for routes
// with parameters.
param name string
@allowed(['westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia'])
param location string
param tags object = {}
@description('Application (client) id of the Entra app registration (README: Entra app registration).')
param entraClientId string
@description('Client secret of that registration, for the Static Web App\'s sign-in (stored as an app setting).')
@secure()
param entraClientSecret string

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

output CONSOLE_NAME string = console.name
output CONSOLE_URL string = 'https://${console.properties.defaultHostname}'
