// The shared Azure ML registry through which a model promoted in dev reaches prod (the exact
// artifact, copied by the registry import). Created by ONE environment (dev: createSharedRegistry
// = true); the others only name it (sharedRegistryName) and get the AzureML Registry User role.
param name string
@description('Primary region of the registry (its metadata).')
param location string
@description('Regions the registry replicates models to (the primary first). A workspace can deploy a registry model only in a region listed here (Azure ML docs: how-to-manage-registries, "Choose Azure regions").')
param regions array = [location]
param tags object

resource registry 'Microsoft.MachineLearningServices/registries@2024-10-01' = {
  name: name
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    publicNetworkAccess: 'Enabled'
    regionDetails: [
      for region in regions: {
        location: region
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
