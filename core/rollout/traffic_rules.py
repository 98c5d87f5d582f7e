"""Azure ML's traffic and mirror-traffic rules, as a pure function.

AML refuses these splits at the control plane; the local server refuses the same ones with
a 400 whose message says what to change, so a rollout that works locally cannot be refused in Azure.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.kernel.ports import TrafficRuleError

MAX_MIRROR_PERCENT = 50


def _percent(kind: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise TrafficRuleError(f"{kind} for deployment '{name}' must be an integer percentage, got {value!r}")
    pct = int(value)
    if not 0 <= pct <= 100:
        raise TrafficRuleError(f"{kind} for deployment '{name}' must be between 0 and 100, got {pct}")
    return pct


def validate_split(
    endpoint: str,
    deployments: Mapping[str, str],
    traffic: Mapping[str, object],
    mirror_traffic: Mapping[str, object],
) -> tuple[dict[str, int], dict[str, int]]:
    """Check a (traffic, mirror_traffic) pair against the endpoint's deployments.

    `deployments` maps each existing deployment to its state; live traffic may only go to a
    deployment that can serve (state `succeeded`). Returns the normalised split: traffic lists
    every deployment (missing ones at 0), mirror drops 0% entries.
    """
    live: dict[str, int] = {}
    for name, value in traffic.items():
        if name not in deployments:
            known = ", ".join(sorted(deployments)) or "none"
            raise TrafficRuleError(
                f"traffic names deployment '{name}', which does not exist in endpoint '{endpoint}' "
                f"(deployments: {known}); create the deployment first"
            )
        live[name] = _percent("traffic", name, value)
    total = sum(live.values())
    if total not in (0, 100):
        raise TrafficRuleError(
            f"traffic percentages of endpoint '{endpoint}' sum to {total}; they must sum to 100 (or all be 0): {live}"
        )
    for name, pct in live.items():
        if pct > 0 and deployments[name] != "succeeded":
            raise TrafficRuleError(
                f"deployment '{name}' is '{deployments[name]}'; only a succeeded deployment can take live traffic"
            )

    mirror: dict[str, int] = {}
    for name, value in mirror_traffic.items():
        if name not in deployments:
            raise TrafficRuleError(
                f"mirror_traffic names deployment '{name}', which does not exist in endpoint '{endpoint}'"
            )
        pct = _percent("mirror_traffic", name, value)
        if pct:
            mirror[name] = pct
    if len(mirror) > 1:
        raise TrafficRuleError(f"mirror_traffic can target one deployment only, got {sorted(mirror)}")
    for name, pct in mirror.items():
        if pct > MAX_MIRROR_PERCENT:
            raise TrafficRuleError(
                f"mirror_traffic for deployment '{name}' is {pct}%; at most {MAX_MIRROR_PERCENT}% may be mirrored"
            )
        if live.get(name, 0) > 0:
            raise TrafficRuleError(
                f"deployment '{name}' has {live[name]}% live traffic and cannot also receive mirror traffic; "
                "set its mirror_traffic to 0 when giving it live traffic"
            )
        if deployments[name] != "succeeded":
            raise TrafficRuleError(
                f"deployment '{name}' is '{deployments[name]}'; only a succeeded deployment can receive mirror traffic"
            )
    full = {name: live.get(name, 0) for name in deployments}
    return full, mirror
