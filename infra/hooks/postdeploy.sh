#!/bin/sh
# Second provisioning pass, once the functions exist: Event Grid validates an AzureFunction
# destination (on_blob_created) and the action group needs the alerts function's key, and
# neither exists before `azd deploy` has published the code. Idempotent: later runs are no-ops.
# WIRE_EVENT_SOURCES stays true only once the second pass has succeeded: a failed pass sets it
# back, so the next `azd up` runs its first pass without the event sources and tries again.
set -eu
if [ "$(azd env get-value WIRE_EVENT_SOURCES 2>/dev/null || echo false)" = "true" ]; then
  echo "event sources already wired"
  exit 0
fi
azd env set WIRE_EVENT_SOURCES true
if ! azd provision --no-prompt; then
  azd env set WIRE_EVENT_SOURCES false
  echo "wiring the event sources failed; WIRE_EVENT_SOURCES is false again (fix the error, then run azd up)" >&2
  exit 1
fi
