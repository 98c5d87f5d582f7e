// The Azure column of DESIGN.md section 1, deployable with `azd up`.
// Names: '<abbreviation><resourceToken>' so two environments never collide.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region for everything. Pick one with Flex Consumption and quota for the GPU SKU below.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the deploying user (azd sets it): gets data-plane access to the data lake for uploads.')
param principalId string = ''

@description('VM size of the training cluster (GPU). Needs quota in the region: see README, troubleshooting.')
param gpuVmSize string = 'Standard_NC4as_T4_v3'

@description('Upper bound of the training cluster; it scales to 0 nodes when idle.')
@minValue(1)
param gpuMaxNodes int = 1

@description('Second pass (set by infra/hooks/postdeploy.sh): wire Event Grid and the alert action group to the deployed functions.')
param wireEventSources bool = false

@description('Run lifecycles as dry runs (coalesce and record, train nothing): for a first look at a new subscription.')
param lifecycleDryRun bool = false

@description('Recorded in every run\'s lineage (e.g. the git commit azd deployed).')
param codeVersion string = 'unversioned'

@description('Name of the managed online endpoint the lifecycle rolls models out to. One source: it must equal rollout.endpoint of samples/churn/policy.yaml (tests/integration/azure/test_infra_files.py checks the default). Endpoint names are unique per region: to deploy a second environment in one region, change both.')
param onlineEndpointName string = 'churn-endpoint'

@description('Name of the GPU compute cluster (policy training.compute).')
param computeClusterName string = 'gpu-cluster'

param resourceGroupName string = ''

@description('Name of the batch endpoint. One source: it must equal batch.endpoint of the policies (samples/churn/policy.yaml; tests/integration/azure/test_infra_third_pass.py checks the default), or the app creates a second endpoint. Batch endpoint names are unique per region: to deploy a second environment in one region, change both.')
param batchEndpointName string = 'churn-batch'
param batchComputeName string = 'cpu-cluster'
@description('Shared Azure ML registry that carries promoted models from dev to prod; empty for none.')
param sharedRegistryName string = ''
@description('Create the shared registry here (true in exactly one environment, normally dev).')
param createSharedRegistry bool = false
@description('Regions the shared registry replicates to: a workspace deploys registry models only in a region its registry lists. Empty: this environment\'s region only. Name prod\'s region here when prod runs elsewhere.')
param sharedRegistryRegions array = []
@description('Directory of the lifecycle policies the app reads (LIFECYCLE_POLICY_DIR, relative to the app): prod points it at its deploy-only policies.')
param lifecyclePolicyDir string = 'samples'
@description('Origins allowed to call the Function App from a browser (CORS), besides the console this template creates (e.g. a local console during development).')
param corsAllowedOrigins array = []
@description('Region of the operator console: Microsoft.Web/staticSites is offered in these regions only. Empty: the app\'s region when it is one of them, else eastus2.')
@allowed(['', 'westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia'])
param consoleLocation string = ''
@description('Principals of other environments (prod identities) that read the shared registry.')
param registryUserPrincipalIds array = []
@description('Entra app registration (client id) for the operator console and the Function App\'s sign-in; empty: no console.')
param consoleEntraClientId string = ''

@secure()
@description('Client secret of that registration (the Static Web App\'s sign-in).')
param consoleEntraClientSecret string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentStorageContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var dataContainers = ['raw', 'features', 'training', 'quarantine']
var endpointName = onlineEndpointName
var cosmosDatabaseName = 'mllifecycle'
var batchName = batchEndpointName
// Static Web Apps regions (Microsoft.Web/staticSites): the console's content is served globally, only its
// metadata lives in the region, so an app region without Static Web Apps falls back to eastus2.
var staticSitesRegions = ['westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia']
var consoleRegion = !empty(consoleLocation) ? consoleLocation : (contains(staticSitesRegions, location) ? location : 'eastus2')
var registryRegions = empty(sharedRegistryRegions) ? [location] : union([location], sharedRegistryRegions)
var cosmosContainerName = 'ledger'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// One user-assigned identity for the Function App and the training cluster; roles in app/rbac.bicep.
module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

// Data lake + Functions host storage (task hub, deployment package). No shared keys: identity only.
module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
    blobServices: {
      containers: [for c in concat(dataContainers, [deploymentStorageContainerName]): { name: c }]
    }
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: 'loganalytics'
  scope: rg
  params: {
    name: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module appInsights 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'appinsights'
  scope: rg
  params: {
    name: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

module appServicePlan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'appserviceplan'
  scope: rg
  params: {
    name: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    sku: { name: 'FC1', tier: 'FlexConsumption' }
    reserved: true
  }
}

module ml 'app/ml.bicep' = {
  name: 'ml'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    abbrs: abbrs
    applicationInsightsId: appInsights.outputs.resourceId
    logAnalyticsWorkspaceId: logAnalytics.outputs.resourceId
    identityId: identity.outputs.resourceId
    computeClusterName: computeClusterName
    gpuVmSize: gpuVmSize
    gpuMaxNodes: gpuMaxNodes
    endpointName: endpointName
  }
}

module batch 'app/batch.bicep' = {
  name: 'batch'
  scope: rg
  params: {
    location: location
    tags: tags
    mlWorkspaceName: ml.outputs.workspaceName
    batchEndpointName: batchName
    batchComputeName: batchComputeName
    identityId: identity.outputs.resourceId
  }
}

module sharedRegistry 'app/registry.bicep' = if (createSharedRegistry && !empty(sharedRegistryName)) {
  name: 'sharedregistry'
  scope: rg
  params: {
    name: sharedRegistryName
    location: location
    regions: registryRegions
    tags: tags
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    containerName: cosmosContainerName
  }
}

// Data Factory for policies that ingest with a pipeline (data.data_factory): raw CSVs -> typed Parquet features.
// The column mapping is the sample contract's (samples/churn/contract.yaml; tests/integration/azure/test_infra_data_factory.py keeps them equal).
module dataFactory 'app/datafactory.bicep' = {
  name: 'datafactory'
  scope: rg
  params: {
    name: '${abbrs.dataFactoryFactories}${resourceToken}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    columns: [
      { name: 'customer_id', type: 'String' }
      { name: 'tenure_months', type: 'Int64' }
      { name: 'monthly_charges', type: 'Double' }
      { name: 'total_charges', type: 'Double' }
      { name: 'contract', type: 'String' }
      { name: 'payment_method', type: 'String' }
      { name: 'internet_service', type: 'String' }
      { name: 'support_calls', type: 'Int64' }
      { name: 'age', type: 'Int64' }
      { name: 'churned', type: 'Int64' }
    ]
  }
}

// The online feature store: container `features` (partition /entityId, per-item TTL) in the ledger's account.
module featureStore 'app/featurestore.bicep' = {
  name: 'featurestore'
  scope: rg
  params: {
    accountName: cosmos.outputs.name
    databaseName: cosmosDatabaseName
  }
}

module lifecycleTopic 'app/topic.bicep' = {
  name: 'lifecycletopic'
  scope: rg
  params: {
    name: '${abbrs.eventGridDomainsTopics}lifecycle-${resourceToken}'
    location: location
    tags: tags
  }
}

// The drift monitor's figures table and the data collection rule it is written through.
module drift 'app/drift.bicep' = {
  name: 'drift'
  scope: rg
  params: {
    location: location
    tags: tags
    abbrs: abbrs
    resourceToken: resourceToken
    logAnalyticsName: logAnalytics.outputs.name
  }
}

// The operator console (Static Web App, Entra sign-in), in a Static Web Apps region; created before the
// Function App so that its origin is in the app's CORS list.
module console 'app/console.bicep' = if (!empty(consoleEntraClientId)) {
  name: 'console'
  scope: rg
  params: {
    name: 'stapp-console-${resourceToken}'
    location: consoleRegion
    tags: tags
    entraClientId: consoleEntraClientId
    entraClientSecret: consoleEntraClientSecret
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    appServicePlanId: appServicePlan.outputs.resourceId
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    applicationInsightsName: appInsights.outputs.name
    consoleEntraClientId: consoleEntraClientId
    corsAllowedOrigins: union(corsAllowedOrigins, empty(consoleEntraClientId) ? [] : [console!.outputs.CONSOLE_URL])
    // app settings: begin (read by core/settings.py; tests/unit/test_settings_contract.py checks this block)
    appSettings: {
      LIFECYCLE_MODE: 'azure'
      LIFECYCLE_DRY_RUN: lifecycleDryRun ? 'true' : 'false'
      LIFECYCLE_DRY_RUN_SECONDS: '0'
      AZURE_CLIENT_ID: identity.outputs.clientId
      STORAGE_ACCOUNT_URL: 'https://${storage.outputs.name}.blob.${environment().suffixes.storage}'
      CONTAINER_RAW: 'raw'
      CONTAINER_FEATURES: 'features'
      CONTAINER_TRAINING: 'training'
      CONTAINER_QUARANTINE: 'quarantine'
      LIFECYCLE_POLICY_DIR: lifecyclePolicyDir
      CODE_VERSION: codeVersion
      EVENTS_TOPIC_ENDPOINT: lifecycleTopic.outputs.endpoint
      LIFECYCLE_ENVIRONMENT: environmentName
      SHARED_REGISTRY_NAME: sharedRegistryName
      AML_SUBSCRIPTION_ID: subscription().subscriptionId
      AML_RESOURCE_GROUP: rg.name
      AML_WORKSPACE: ml.outputs.workspaceName
      COSMOS_ENDPOINT: cosmos.outputs.endpoint
      COSMOS_DATABASE: cosmosDatabaseName
      LOG_ANALYTICS_WORKSPACE_ID: logAnalytics.outputs.logAnalyticsWorkspaceId
      DATA_FACTORY_NAME: dataFactory.outputs.name
      FEATURE_STORE_CONTAINER: featureStore.outputs.containerName
      // model data collection writes to the workspace's default datastore (workspaceblobstore)
      PREDICTION_LOG_ACCOUNT_URL: 'https://${ml.outputs.storageAccountName}.blob.${environment().suffixes.storage}'
      PREDICTION_LOG_CONTAINER: 'azureml-blobstore-${ml.outputs.workspaceId}'
      PREDICTION_LOG_PREFIX: 'modelDataCollector'
      PREDICTION_LOG_DELAY_SECONDS: '600'
      PREDICTION_ENTITY_COLUMN: 'customer_id'
      DRIFT_INGESTION_ENDPOINT: drift.outputs.ingestionEndpoint
      DRIFT_DCR_IMMUTABLE_ID: drift.outputs.ruleImmutableId
      // the console's Entra registration: the app validates its bearer tokens itself (core/kernel/authz.py)
      CONSOLE_ENTRA_CLIENT_ID: consoleEntraClientId
      CONSOLE_ENTRA_TENANT_ID: tenant().tenantId
    }
    // app settings: end
  }
}

// Event sources that point at deployed functions: second pass only (see infra/hooks/postdeploy.sh).
module events 'app/events.bicep' = if (wireEventSources) {
  name: 'events'
  scope: rg
  params: {
    location: location
    tags: tags
    abbrs: abbrs
    resourceToken: resourceToken
    storageAccountName: storage.outputs.name
    functionAppName: api.outputs.SERVICE_API_NAME
    dataContainers: ['raw']
    logAnalyticsWorkspaceId: logAnalytics.outputs.resourceId
    endpointName: endpointName
    driftTableName: drift.outputs.tableName
  }
}

// Every role assignment, in one place.
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: appInsights.outputs.name
    logAnalyticsName: logAnalytics.outputs.name
    driftRuleName: drift.outputs.ruleName
    mlWorkspaceName: ml.outputs.workspaceName
    mlStorageAccountName: ml.outputs.storageAccountName
    containerRegistryName: ml.outputs.containerRegistryName
    cosmosAccountName: cosmos.outputs.name
    cosmosDatabaseName: cosmosDatabaseName
    featureStoreContainerName: featureStore.outputs.containerName
    topicName: lifecycleTopic.outputs.name
    managedIdentityPrincipalId: identity.outputs.principalId
    endpointPrincipalId: ml.outputs.endpointPrincipalId
    userPrincipalId: principalId
    sharedRegistryName: createSharedRegistry ? sharedRegistryName : ''
    registryUserPrincipalIds: registryUserPrincipalIds
    dataFactoryName: dataFactory.outputs.name
    dataFactoryPrincipalId: dataFactory.outputs.principalId
    pipelineRunnerRoleId: dataFactory.outputs.pipelineRunnerRoleId
  }
  dependsOn: [sharedRegistry]
}

// Outputs for azd (also written to .azure/<env>/.env).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.SERVICE_API_NAME
output SERVICE_API_NAME string = api.outputs.SERVICE_API_NAME
output SERVICE_API_URI string = api.outputs.SERVICE_API_URI
output AZURE_CLIENT_ID string = identity.outputs.clientId
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output STORAGE_ACCOUNT_URL string = 'https://${storage.outputs.name}.blob.${environment().suffixes.storage}'
output AML_WORKSPACE string = ml.outputs.workspaceName
output AML_COMPUTE_CLUSTER string = computeClusterName
output AML_ONLINE_ENDPOINT string = endpointName
output AML_BATCH_ENDPOINT string = batch.outputs.batchEndpointName
output AML_BATCH_COMPUTE string = batch.outputs.batchComputeName
output AML_SHARED_REGISTRY string = sharedRegistryName
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output LOG_ANALYTICS_WORKSPACE_ID string = logAnalytics.outputs.logAnalyticsWorkspaceId
output DATA_FACTORY_NAME string = dataFactory.outputs.name
output EVENTS_TOPIC_ENDPOINT string = lifecycleTopic.outputs.endpoint
output APPLICATIONINSIGHTS_NAME string = appInsights.outputs.name
output CONSOLE_URL string = !empty(consoleEntraClientId) ? console!.outputs.CONSOLE_URL : ''
