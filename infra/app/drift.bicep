// The drift monitor's figures (core/monitoring/figures.py): a Log Analytics custom table and the data
// collection rule the Functions identity posts rows to through the Logs Ingestion API
// (https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview). A DCR of kind
// 'Direct' has its own logs ingestion endpoint, so no data collection endpoint is needed.
// The alert rule on this table is in events.bicep (second pass: it calls the deployed /api/alerts).
param location string
param tags object
param abbrs object
param resourceToken string
param logAnalyticsName string

// core/monitoring/figures.py TABLE and COLUMNS (tests/integration/azure/test_drift_infra.py keeps them equal)
var tableName = 'MLDriftFigures_CL'
var columns = [
  { name: 'TimeGenerated', type: 'datetime' }
  { name: 'Model', type: 'string' }
  { name: 'CheckId', type: 'string' }
  { name: 'FeatureName', type: 'string' }
  { name: 'Rows', type: 'int' }
  { name: 'Psi', type: 'real' }
  { name: 'PValue', type: 'real' }
  { name: 'Level', type: 'real' }
  { name: 'MinPsi', type: 'real' }
  { name: 'Drifted', type: 'boolean' }
  { name: 'Verdict', type: 'string' }
  { name: 'Alert', type: 'boolean' }
  { name: 'WindowStart', type: 'datetime' }
  { name: 'WindowEnd', type: 'datetime' }
  { name: 'ReferenceVersion', type: 'string' }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource table 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: tableName
  properties: {
    plan: 'Analytics' // log search alerts query Analytics tables
    retentionInDays: 90
    schema: {
      name: tableName
      columns: columns
    }
  }
}

resource rule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: '${abbrs.insightsDataCollectionRules}drift-${resourceToken}'
  location: location
  tags: tags
  kind: 'Direct'
  properties: {
    streamDeclarations: {
      'Custom-${tableName}': { columns: columns }
    }
    destinations: {
      logAnalytics: [{ name: 'workspace', workspaceResourceId: workspace.id }]
    }
    dataFlows: [
      {
        streams: ['Custom-${tableName}']
        destinations: ['workspace']
        transformKql: 'source'
        outputStream: 'Custom-${tableName}'
      }
    ]
  }
  dependsOn: [table]
}

output ruleName string = rule.name
output ingestionEndpoint string = rule.properties.endpoints.logsIngestion
output ruleImmutableId string = rule.properties.immutableId
output tableName string = tableName
