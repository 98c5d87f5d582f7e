// The shared Azure ML registry through which a model promoted in dev reaches prod (the exact
// artifact, copied by the registry import). Created by ONE environment (dev: createSharedRegistry
// = true); the others only name it (sharedRegistryName) and get the AzureML Registry User role.
param name string
param location string
param tags object

resource registry 'Microsoft.MachineLearningServices/registries@2024-10-01' = {
  name: name
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    publicNetworkAccess: 'Enabled'
    regionDetails: [
      {
        location: location
        storageAccountDetails: [
          {
            systemCreatedStorageAccount: {
              storageAccountType: 'Standard_LRS'
              storageAccountHnsEnabled: false
              allowBlobPublicAccess: false
            }
          }
        ]
        acrDetails: [
          {
            systemCreatedAcrAccount: { acrAccountSku: 'Premium' }
          }
        ]
      }
    ]
  }
}

output name string = registry.name
output id string = registry.id
