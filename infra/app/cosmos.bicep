// Cosmos DB (serverless) for the run ledger: one container partitioned by /model
// (runs, entries and requests told apart by `type`; see adapters/azure/ledger.py).
// Local (key) auth is off: the Function App uses the data-plane role in rbac.bicep.
param name string
param location string
param tags object
param databaseName string
param containerName string

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [{ locationName: location, failoverPriority: 0, isZoneRedundant: false }]
    capabilities: [{ name: 'EnableServerless' }]
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true // the app writes data only; databases and containers come from Bicep
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: { resource: { id: databaseName } }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: { paths: ['/model'], kind: 'Hash', version: 2 }
      indexingPolicy: {
        indexingMode: 'consistent'
        includedPaths: [{ path: '/*' }]
        excludedPaths: [{ path: '/data/*' }, { path: '/details/*' }, { path: '/"_etag"/?' }]
      }
    }
  }
}

output name string = account.name
output endpoint string = account.properties.documentEndpoint
