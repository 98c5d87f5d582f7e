// Azure ML: workspace (+ its key vault, container registry and storage), the GPU training
// cluster (scales to 0) and the managed online endpoint, whose request logs
// (AmlOnlineEndpointTrafficLog) go to Log Analytics for the rollout gates.
param location string
param tags object
param resourceToken string
param abbrs object
param applicationInsightsId string
param logAnalyticsWorkspaceId string
@description('User-assigned identity of the training cluster (reads the data lake with it).')
param identityId string
param computeClusterName string
param gpuVmSize string
param gpuMaxNodes int
param endpointName string

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: '${abbrs.keyVaultVaults}${resourceToken}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: '${abbrs.containerRegistryRegistries}${resourceToken}'
  location: location
  tags: tags
  sku: { name: 'Basic' }
  properties: { adminUserEnabled: false }
}

// The workspace's own storage (artifacts, registered models), separate from the data lake.
resource mlStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: '${abbrs.storageStorageAccounts}ml${take(resourceToken, 11)}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2025-06-01' = {
  name: '${abbrs.machineLearningServicesWorkspaces}${resourceToken}'
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    friendlyName: 'ML lifecycle'
    storageAccount: mlStorage.id
    keyVault: keyVault.id
    containerRegistry: registry.id
    applicationInsights: applicationInsightsId
    systemDatastoresAuthMode: 'Identity' // the storage account allows no shared keys (in the schema from 2025-06-01 on)
    publicNetworkAccess: 'Enabled'
  }
}

resource gpuCluster 'Microsoft.MachineLearningServices/workspaces/computes@2025-06-01' = {
  parent: workspace
  name: computeClusterName
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    computeType: 'AmlCompute'
    description: 'GPU training cluster of the ML lifecycle; scales to zero when idle'
    properties: {
      vmSize: gpuVmSize
      vmPriority: 'Dedicated'
      osType: 'Linux'
      scaleSettings: {
        minNodeCount: 0
        maxNodeCount: gpuMaxNodes
        nodeIdleTimeBeforeScaleDown: 'PT300S'
      }
      remoteLoginPortPublicAccess: 'Disabled'
    }
  }
}

// The endpoint only: blue/green deployments are created by the lifecycle (azure-ai-ml).
resource endpoint 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2025-06-01' = {
  parent: workspace
  name: endpointName
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  kind: 'Managed'
  properties: {
    authMode: 'Key'
    description: 'Online endpoint rolled out by the ML lifecycle'
    publicNetworkAccess: 'Enabled'
  }
}

// Request logs for the gates. Resource-specific tables (Dedicated) give AmlOnlineEndpointTrafficLog.
resource endpointDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'traffic-to-log-analytics'
  scope: endpoint
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      { category: 'AmlOnlineEndpointTrafficLog', enabled: true }
      { category: 'AmlOnlineEndpointConsoleLog', enabled: true }
      { category: 'AmlOnlineEndpointEventLog', enabled: true }
    ]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

output workspaceName string = workspace.name
output storageAccountName string = mlStorage.name
// workspaceblobstore is the container azureml-blobstore-<workspaceId> of the workspace storage
output workspaceId string = workspace.properties.workspaceId
output containerRegistryName string = registry.name
output endpointName string = endpoint.name
output endpointPrincipalId string = endpoint.identity.principalId
output workspacePrincipalId string = workspace.identity.principalId
