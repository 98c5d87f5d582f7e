"""The durable client binding: the JSON string the SDK's `DurableOrchestrationClient` is built from.

Its URLs are what a client calls and what `create_check_status_response` hands to callers. The
binding goes only to the app's own functions, in-process: it carries the system key and the secret
path segment of the rpc API (`rpc_token`)."""

from __future__ import annotations

import functools
import json
from urllib.parse import quote

RPC_PREFIX = "/durabletask"
PUBLIC_PREFIX = "/runtime/webhooks/durabletask"


@functools.lru_cache(maxsize=16)
def client_binding(base_url: str, task_hub: str, system_key: str | None, rpc_token: str = "") -> str:
    """Kept per arguments: every invocation with a client binding asks for it (an event storm's
    share was measurable)."""
    public = f"{base_url}{PUBLIC_PREFIX}"
    query = f"taskHub={quote(task_hub)}&connection=Storage"
    if system_key:
        query += f"&code={quote(system_key)}"
    inst = f"{public}/instances/INSTANCEID"
    return json.dumps(
        {
            "taskHubName": task_hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{public}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
                "createAndWaitOnNewInstancePostUri": (
                    f"{public}/orchestrators/{{functionName}}[/{{instanceId}}]"
                    f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{query}"
                ),
            },
            "managementUrls": management_templates(inst, query),
            "baseUrl": public,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": f"{base_url}{RPC_PREFIX}/{rpc_token}/" if rpc_token else "",
            "httpBaseUrl": "",
        }
    )


def management_templates(inst: str, query: str) -> dict[str, str]:
    return {
        "id": "INSTANCEID",
        "statusQueryGetUri": f"{inst}?{query}",
        "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{inst}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{inst}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{inst}?{query}",
        "restartPostUri": f"{inst}/restart?{query}",
        "suspendPostUri": f"{inst}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{inst}/resume?reason={{text}}&{query}",
    }


def management_urls(base_url: str, task_hub: str, instance_id: str, system_key: str | None) -> dict[str, str]:
    """The URLs of one instance (what `create_check_status_response` answers)."""
    urls = json.loads(client_binding(base_url, task_hub, system_key))["managementUrls"]
    return {k: v.replace(urls["id"], instance_id) for k, v in urls.items()}
