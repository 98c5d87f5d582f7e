// The online feature store (issue 22): a container in the ledger's Cosmos DB account (serverless, Entra-only).
// Partition key /entityId: a scoring lookup is a single-partition read. TTL on, no default (-1): each
// vector carries the policy's online_features.ttl_seconds, version records never expire
// (adapters/azure/feature_store.py). The Function App writes it with the data-plane role the ledger
// already grants on the whole account (rbac.bicep appLedger); on Azure, an endpoint that serves by
// entity id reads it with its own identity and the Cosmos DB Built-in Data Reader role, scoped to this
// container (rbac.bicep endpointFeatureReader).
param accountName string
param databaseName string
param containerName string = 'features'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: accountName
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' existing = {
  parent: account
  name: databaseName
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: { paths: ['/entityId'], kind: 'Hash', version: 2 }
      defaultTtl: -1
      indexingPolicy: {
        indexingMode: 'consistent'
        includedPaths: [{ path: '/entityId/?' }, { path: '/featureSet/?' }, { path: '/version/?' }]
        excludedPaths: [{ path: '/*' }]
      }
    }
  }
}

output containerName string = container.name
