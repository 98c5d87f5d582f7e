// Every role assignment of the deployment, least privilege, each GUID named.
// Principals: the user-assigned identity (Function App + training cluster) and optionally the
// deploying user (a person or, in CI, a service principal).
param storageAccountName string
param appInsightsName string
param logAnalyticsName string
@description('The drift monitor\'s data collection rule (drift.bicep).')
param driftRuleName string
param mlWorkspaceName string
param mlStorageAccountName string
param containerRegistryName string
param cosmosAccountName string
@description('The ledger\'s database and the online feature store\'s container in it (featurestore.bicep).')
param cosmosDatabaseName string
param featureStoreContainerName string
param topicName string
param managedIdentityPrincipalId string
@description('System identity of the online endpoint (ml.bicep output endpointPrincipalId): writes the prediction log.')
param endpointPrincipalId string
@description('Deploying user: may upload to the data lake. Empty to skip.')
param userPrincipalId string = ''
@description('Shared registry created in this resource group (registry.bicep); empty for none.')
param sharedRegistryName string = ''
@description('Other environments\' identities (prod) that deploy from the shared registry.')
param registryUserPrincipalIds array = []
@description('Data Factory of pipeline ingestion (datafactory.bicep); empty for none.')
param dataFactoryName string = ''
param dataFactoryPrincipalId string = ''
@description('The custom role that starts, reads and cancels its pipeline runs (datafactory.bicep).')
param pipelineRunnerRoleId string = ''

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
  logAnalyticsReader: '73c42c96-874c-492b-b04d-ab87d138a893' // Log Analytics Reader
  azureMLDataScientist: 'f6c7c914-8db3-469d-8ca1-694a8f32e121' // AzureML Data Scientist
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d' // AcrPull
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender
  azureMLRegistryUser: '1823dd4f-9b8c-4ab6-ab4e-7397a3684615' // AzureML Registry User
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader (the factory, on `raw` only)
}
// Cosmos DB data-plane role definition (not an Azure RBAC role)
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002' // Cosmos DB Built-in Data Contributor
var cosmosDataReader = '00000000-0000-0000-0000-000000000001' // Cosmos DB Built-in Data Reader

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}
resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}
resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}
resource driftRule 'Microsoft.Insights/dataCollectionRules@2023-03-11' existing = {
  name: driftRuleName
}
resource mlWorkspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: mlWorkspaceName
}
resource mlStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: mlStorageAccountName
}
resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: containerRegistryName
}
resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}
resource topic 'Microsoft.EventGrid/topics@2024-06-01-preview' existing = {
  name: topicName
}

// --- the Function App's identity (also the training cluster's)

// Storage Blob Data Owner: data lake reads/writes, host storage and the deployment package (Flex needs Owner for blob leases)
resource appBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, managedIdentityPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Queue Data Contributor: Durable Functions task hub queues
resource appQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, managedIdentityPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor: Durable Functions history and instances tables
resource appTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, managedIdentityPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher: telemetry to Application Insights with local auth disabled
resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, managedIdentityPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Log Analytics Reader: the rollout gates' KQL over AmlOnlineEndpointTrafficLog
resource appLogs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(logAnalytics.id, managedIdentityPrincipalId, roles.logAnalyticsReader)
  scope: logAnalytics
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.logAnalyticsReader)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher on the drift DCR: the drift monitor's rows through the Logs Ingestion API
resource appDriftFigures 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(driftRule.id, managedIdentityPrincipalId, roles.monitoringMetricsPublisher)
  scope: driftRule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// AzureML Data Scientist: submit/cancel jobs, register models and data, manage endpoints and deployments
resource appML 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mlWorkspace.id, managedIdentityPrincipalId, roles.azureMLDataScientist)
  scope: mlWorkspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.azureMLDataScientist)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor on the workspace storage: upload job code, download outputs and read the
// prediction log (model data collection's JSONL in workspaceblobstore under modelDataCollector/; a read
// needs Storage Blob Data Reader, which this role contains) with no shared keys
resource appMLStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mlStorage.id, managedIdentityPrincipalId, roles.storageBlobDataContributor)
  scope: mlStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// AcrPull on the workspace registry: the training cluster (this identity) pulls the job's environment image
resource clusterImages 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, managedIdentityPrincipalId, roles.acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// EventGrid Data Sender: publish lifecycle events to the custom topic (local auth disabled)
resource appEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, managedIdentityPrincipalId, roles.eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Cosmos DB Built-in Data Contributor (data plane): the run ledger
resource appLedger 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, managedIdentityPrincipalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: managedIdentityPrincipalId
    scope: cosmos.id
  }
}

// --- the online endpoint's system identity. Azure ML itself grants it AcrPull on the workspace registry and
// Storage Blob Data Reader on the workspace storage when it creates the endpoint (assigning those again fails
// with RoleAssignmentExists). Model data collection writes the prediction log (modelDataCollector/ in
// workspaceblobstore) as this identity, and the storage allows no shared keys: it needs write access, the role
// the data collection docs name (how-to-collect-production-data: Storage Blob Data Contributor).

// Storage Blob Data Contributor on the workspace storage: model data collection's JSONL
resource endpointPredictionLog 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mlStorage.id, endpointPrincipalId, roles.storageBlobDataContributor)
  scope: mlStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: endpointPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Cosmos DB Built-in Data Reader (data plane) on the online feature store's container only: a deployment that
// serves by entity id reads feature vectors with the endpoint's identity (adapters/azure/scoring/score.py,
// point reads); it cannot read the ledger beside it nor write anything
resource endpointFeatureReader 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, endpointPrincipalId, cosmosDataReader)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataReader}'
    principalId: endpointPrincipalId
    scope: '${cosmos.id}/dbs/${cosmosDatabaseName}/colls/${featureStoreContainerName}'
  }
}

// --- the deploying user (optional)

// Storage Blob Data Contributor: upload sample data to the data lake with `az storage blob upload --auth-mode login`
resource userBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(storage.id, userPrincipalId, roles.storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: userPrincipalId
    // no principalType: azd may run as a user or as a service principal (CI), and a fixed type fails for the other
  }
}

// --- the shared registry (issue 14): this environment shares champions into it, others deploy from it

resource sharedRegistry 'Microsoft.MachineLearningServices/registries@2024-10-01' existing = if (!empty(sharedRegistryName)) {
  name: sharedRegistryName
}

// AzureML Registry User: import (share) model versions into the registry and read them
resource appRegistry 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(sharedRegistryName)) {
  name: guid(sharedRegistryName, managedIdentityPrincipalId, roles.azureMLRegistryUser)
  scope: sharedRegistry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.azureMLRegistryUser)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// AzureML Registry User for the other environments' identities (prod deploys the registry versions)
resource otherEnvRegistry 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for registryUserPrincipalId in (empty(sharedRegistryName) ? [] : registryUserPrincipalIds): {
    name: guid(sharedRegistryName, registryUserPrincipalId, roles.azureMLRegistryUser)
    scope: sharedRegistry
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.azureMLRegistryUser)
      principalId: registryUserPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

// --- Data Factory (issue 22): its system identity reads `raw` and writes `features`, container-scoped;
// the Function App's identity runs its pipelines through a custom role (datafactory.bicep), not Data Factory Contributor

resource lakeBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}
resource rawContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: lakeBlobs
  name: 'raw'
}
resource featuresContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: lakeBlobs
  name: 'features'
}
resource factory 'Microsoft.DataFactory/factories@2018-06-01' existing = if (!empty(dataFactoryName)) {
  name: dataFactoryName
}

// Storage Blob Data Reader on `raw`: the pipeline's Copy source
resource factoryReadsRaw 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(dataFactoryName)) {
  name: guid(rawContainer.id, dataFactoryPrincipalId, roles.blobDataReader)
  scope: rawContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataReader)
    principalId: dataFactoryPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor on `features`: the pipeline's Parquet sink
resource factoryWritesFeatures 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(dataFactoryName)) {
  name: guid(featuresContainer.id, dataFactoryPrincipalId, roles.storageBlobDataContributor)
  scope: featuresContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: dataFactoryPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Lifecycle pipeline runner (custom): createRun, queryPipelineRuns, read and cancel runs of this factory
resource appRunsPipelines 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(dataFactoryName)) {
  name: guid(dataFactoryName, managedIdentityPrincipalId, pipelineRunnerRoleId)
  scope: factory
  properties: {
    roleDefinitionId: pipelineRunnerRoleId
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal'
  }
}
