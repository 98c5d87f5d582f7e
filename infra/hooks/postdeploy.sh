#!/bin/sh
# Second provisioning pass, once the functions exist: Event Grid validates an AzureFunction
# destination (on_blob_created) and the action group needs the host key of /api/alerts, and
# neither exists before `azd deploy` has published the code. Idempotent: later runs are no-ops.
set -eu
if [ "$(azd env get-value WIRE_EVENT_SOURCES 2>/dev/null || echo false)" = "true" ]; then
  echo "event sources already wired"
  exit 0
fi
azd env set WIRE_EVENT_SOURCES true
azd provision --no-prompt
