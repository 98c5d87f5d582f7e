// Azure Data Factory for policies that ingest with a pipeline (policy data.data_factory; issue 22).
// The factory runs as its own system-assigned identity, which rbac.bicep lets read the `raw` container
// and write the `features` container, nothing else. The linked service authenticates with that identity
// (serviceEndpoint, no key, no SAS, no connection string: the account has shared keys off anyway).
//
// The pipeline `raw-to-features` is the lifecycle's contract with Data Factory
// (core/training/pipeline_ingest.py pipeline_parameters): for each raw CSV in `sourcePaths` it copies
// the file to Parquet under {featuresContainer}/{featuresFolder}/, typed by the contract's column
// mapping. The lifecycle then checks that output against the data contract and splits it into
// training/{model}/{data version}/train|eval itself (one split rule for both ingestion paths).
param name string
param location string
param tags object
param storageAccountName string
@description('The data contract\'s columns as [{name, type}] with Data Factory interim types (String, Int64, Double, Boolean, DateTime).')
param columns array
param pipelineName string = 'raw-to-features'

resource factory 'Microsoft.DataFactory/factories@2018-06-01' = {
  name: name
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    // only the self-hosted integration runtime uses the public endpoint; this template uses the Azure IR
    publicNetworkAccess: 'Disabled'
  }
}

resource lake 'Microsoft.DataFactory/factories/linkedservices@2018-06-01' = {
  parent: factory
  name: 'DataLake'
  properties: {
    type: 'AzureBlobStorage'
    description: 'The data lake, with the factory\'s system-assigned identity (no key, no SAS)'
    typeProperties: {
      serviceEndpoint: 'https://${storageAccountName}.blob.${environment().suffixes.storage}/'
      accountKind: 'StorageV2'
    }
  }
}

resource rawCsv 'Microsoft.DataFactory/factories/datasets@2018-06-01' = {
  parent: factory
  name: 'RawCsv'
  properties: {
    type: 'DelimitedText'
    linkedServiceName: { referenceName: lake.name, type: 'LinkedServiceReference' }
    parameters: {
      container: { type: 'String' }
      folder: { type: 'String' }
      file: { type: 'String' }
    }
    typeProperties: {
      location: {
        type: 'AzureBlobStorageLocation'
        container: { value: '@dataset().container', type: 'Expression' }
        folderPath: { value: '@dataset().folder', type: 'Expression' }
        fileName: { value: '@dataset().file', type: 'Expression' }
      }
      columnDelimiter: ','
      firstRowAsHeader: true
      quoteChar: '"' // escapeChar: Data Factory's default, a backslash
    }
  }
}

resource featuresParquet 'Microsoft.DataFactory/factories/datasets@2018-06-01' = {
  parent: factory
  name: 'FeaturesParquet'
  properties: {
    type: 'Parquet'
    linkedServiceName: { referenceName: lake.name, type: 'LinkedServiceReference' }
    parameters: {
      container: { type: 'String' }
      folder: { type: 'String' }
      file: { type: 'String' }
    }
    typeProperties: {
      location: {
        type: 'AzureBlobStorageLocation'
        container: { value: '@dataset().container', type: 'Expression' }
        folderPath: { value: '@dataset().folder', type: 'Expression' }
        fileName: { value: '@dataset().file', type: 'Expression' }
      }
      compressionCodec: 'snappy'
    }
  }
}

resource pipeline 'Microsoft.DataFactory/factories/pipelines@2018-06-01' = {
  parent: factory
  name: pipelineName
  properties: {
    description: 'raw CSVs -> typed Parquet features (the lifecycle checks them against the contract and splits them for training)'
    parameters: {
      runId: { type: 'String' }
      model: { type: 'String' }
      dataVersion: { type: 'String' }
      sourceContainer: { type: 'String' }
      sourcePaths: { type: 'Array' }
      featuresContainer: { type: 'String' }
      featuresFolder: { type: 'String' }
    }
    activities: [
      {
        name: 'EachRawFile'
        type: 'ForEach'
        typeProperties: {
          items: { value: '@pipeline().parameters.sourcePaths', type: 'Expression' }
          isSequential: false
          activities: [
            {
              name: 'RawToFeatures'
              type: 'Copy'
              policy: { timeout: '0.01:00:00', retry: 1, retryIntervalInSeconds: 60 }
              inputs: [
                {
                  referenceName: rawCsv.name
                  type: 'DatasetReference'
                  parameters: {
                    container: { value: '@pipeline().parameters.sourceContainer', type: 'Expression' }
                    folder: {
                      value: '@join(take(split(item(), \'/\'), sub(length(split(item(), \'/\')), 1)), \'/\')'
                      type: 'Expression'
                    }
                    file: { value: '@last(split(item(), \'/\'))', type: 'Expression' }
                  }
                }
              ]
              outputs: [
                {
                  referenceName: featuresParquet.name
                  type: 'DatasetReference'
                  parameters: {
                    container: { value: '@pipeline().parameters.featuresContainer', type: 'Expression' }
                    folder: { value: '@pipeline().parameters.featuresFolder', type: 'Expression' }
                    file: { value: '@concat(\'part-\', replace(item(), \'/\', \'_\'), \'.parquet\')', type: 'Expression' }
                  }
                }
              ]
              typeProperties: {
                source: {
                  type: 'DelimitedTextSource'
                  storeSettings: { type: 'AzureBlobStorageReadSettings' }
                  formatSettings: { type: 'DelimitedTextReadSettings' }
                }
                sink: {
                  type: 'ParquetSink'
                  storeSettings: { type: 'AzureBlobStorageWriteSettings' }
                  formatSettings: { type: 'ParquetWriteSettings' }
                }
                enableStaging: false
                // the contract's column mapping: a value that does not convert fails the run, with Data Factory's message
                translator: {
                  type: 'TabularTranslator'
                  typeConversion: true
                  typeConversionSettings: { allowDataTruncation: false, treatBooleanAsNumber: false }
                  mappings: [for c in columns: { source: { name: c.name }, sink: { name: c.name, type: c.type } }]
                }
              }
            }
          ]
        }
      }
    ]
  }
}

// What the Function App's identity may do on this factory, and no more: start, read and cancel runs
// (Data Factory Contributor could also rewrite pipelines and linked services).
resource pipelineRunner 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, factory.id, 'lifecycle-pipeline-runner')
  properties: {
    roleName: 'Lifecycle pipeline runner (${name})'
    description: 'Start, read and cancel pipeline runs of ${name} (the ML lifecycle\'s ingestion)'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.DataFactory/factories/read'
          'Microsoft.DataFactory/factories/pipelines/createrun/action'
          'Microsoft.DataFactory/factories/querypipelineruns/action'
          'Microsoft.DataFactory/factories/pipelineruns/read'
          'Microsoft.DataFactory/factories/pipelineruns/cancel/action'
        ]
        notActions: []
      }
    ]
    assignableScopes: [resourceGroup().id]
  }
}

output name string = factory.name
output principalId string = factory.identity.principalId
output pipelineName string = pipeline.name
output pipelineRunnerRoleId string = pipelineRunner.id
