// Event sources that call the deployed functions (second provisioning pass, see hooks/postdeploy.sh):
// - Event Grid system topic on the data lake -> BlobCreated -> on_blob_created (Azure Function destination);
// - an action group whose webhook is /api/alerts, and a scheduled log alert on the online endpoint.
param location string
param tags object
param abbrs object
param resourceToken string
param storageAccountName string
param functionAppName string
@description('Containers whose new blobs start lifecycles (subject filters).')
param dataContainers array
param logAnalyticsWorkspaceId string
param endpointName string
@description('5xx/408/424 share of requests over 15 minutes that fires the alert (a retrain signal, not a gate).')
param errorRateThreshold string = '0.05'
@description('Alert rule name; list it under triggers.alert_rules in the model\'s policy so the alert maps to the model.')
param alertRuleName string = 'churn-endpoint-errors'
@description('Name of the Azure Function behind /api/alerts (triggers/alerts.py): its function key authorises the webhook.')
param alertsFunctionName string = 'alerts_webhook'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: '${abbrs.eventGridSystemTopics}storage-${resourceToken}'
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = [
  for container in dataContainers: {
    parent: systemTopic
    name: '${abbrs.eventGridEventSubscriptions}blobcreated-${container}'
    properties: {
      destination: {
        endpointType: 'AzureFunction'
        properties: {
          resourceId: '${functionApp.id}/functions/on_blob_created'
          maxEventsPerBatch: 1
          preferredBatchSizeInKilobytes: 64
        }
      }
      eventDeliverySchema: 'EventGridSchema'
      filter: {
        includedEventTypes: ['Microsoft.Storage.BlobCreated']
        subjectBeginsWith: '/blobServices/default/containers/${container}/blobs/'
        advancedFilters: [
          // act on completed writes only (DESIGN.md section 5)
          { operatorType: 'StringIn', key: 'data.api', values: ['PutBlob', 'PutBlockList', 'FlushWithClose', 'CopyBlob'] }
        ]
      }
      retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
    }
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${abbrs.insightsActionGroups}lifecycle-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'mllifecycle'
    enabled: true
    webhookReceivers: [
      {
        name: 'lifecycle-alerts'
        // the alerts function has auth level FUNCTION: the key is the alerts function's own (it opens
        // /api/alerts only, not the operator routes a host key would), read at deployment, never stored in code
        serviceUri: 'https://${functionApp.properties.defaultHostName}/api/alerts?code=${listKeys('${functionApp.id}/functions/${alertsFunctionName}', '2024-04-01').default}'
        useCommonAlertSchema: true
      }
    ]
  }
}

resource endpointErrors 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: alertRuleName
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${endpointName}: error rate'
    description: 'Share of 5xx/408/424 responses of the online endpoint; fires a retrain request via /api/alerts.'
    severity: 2
    enabled: true
    scopes: [logAnalyticsWorkspaceId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'union isfuzzy=true (datatable(TimeGenerated:datetime, EndpointName:string, DeploymentName:string, ResponseCode:int, TotalDurationMs:int)[]), AmlOnlineEndpointTrafficLog | where EndpointName == "${endpointName}" | extend Code = toint(ResponseCode) | summarize requests = count(), errors = countif(Code >= 500 or Code in (408, 424)) | where requests >= 50 | extend error_rate = todouble(errors) / requests | where error_rate > ${errorRateThreshold}'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    // The table exists only once the endpoint has logged traffic: without skipQueryValidation the rule is rejected on a
    // new workspace, and without the empty datatable leg (the same as core/rollout/kql.py's) the union has no leg that
    // resolves, which Kusto reports as an error, so the rule would fail every evaluation until the first request.
    skipQueryValidation: true
    autoMitigate: true
    actions: { actionGroups: [actionGroup.id], customProperties: { model: 'churn' } }
  }
}

output systemTopicName string = systemTopic.name
output actionGroupId string = actionGroup.id
