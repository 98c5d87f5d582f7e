// Batch scoring: the model's batch endpoint and the CPU cluster its deployments run on (scales to 0).
// Deployments (one per model version) and the default are created by the lifecycle (azure-ai-ml),
// like the online endpoint's. The cluster runs as the user-assigned identity, which reads scoring
// input from the data lake and writes predictions/{model}/... back (roles in rbac.bicep).
param location string
param tags object
param mlWorkspaceName string
param batchEndpointName string
param batchComputeName string
@description('User-assigned identity the batch cluster runs as.')
param identityId string
param cpuVmSize string = 'Standard_DS3_v2'
param cpuMaxNodes int = 2

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: mlWorkspaceName
}

resource cpuCluster 'Microsoft.MachineLearningServices/workspaces/computes@2024-10-01' = {
  parent: workspace
  name: batchComputeName
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    computeType: 'AmlCompute'
    description: 'CPU cluster of the batch scoring deployments; scales to zero when idle'
    properties: {
      vmSize: cpuVmSize
      vmPriority: 'Dedicated'
      osType: 'Linux'
      scaleSettings: {
        minNodeCount: 0
        maxNodeCount: cpuMaxNodes
        nodeIdleTimeBeforeScaleDown: 'PT300S'
      }
      remoteLoginPortPublicAccess: 'Disabled'
    }
  }
}

// The endpoint only; AAD token auth (batch endpoints support no keys).
resource batchEndpoint 'Microsoft.MachineLearningServices/workspaces/batchEndpoints@2024-10-01' = {
  parent: workspace
  name: batchEndpointName
  location: location
  tags: tags
  properties: {
    authMode: 'AADToken'
    description: 'Batch scoring endpoint of the ML lifecycle (default deployment = the champion)'
  }
}

output batchEndpointName string = batchEndpoint.name
output batchComputeName string = cpuCluster.name
