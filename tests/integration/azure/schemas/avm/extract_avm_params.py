"""Regenerate one vendored file here: run inside a clone of Azure/bicep-registry-modules (with its tags),
`python extract_avm_params.py storage/storage-account 0.8.3 > storage_storage-account@0.8.3.json`.

Reads the module's compiled template (main.json, what the registry serves) at the release tag
`avm/res/<module>/<version>` and keeps per parameter: type, required (no defaultValue and not nullable,
its own or via its user-defined type), allowedValues and, for a user-defined object type, its
property names and the required ones."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def _resolve(spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    seen = dict(spec)
    while "$ref" in seen:
        seen = {**defs[seen.pop("$ref").removeprefix("#/definitions/")], **seen}
    return seen


def _describe(raw: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    spec = _resolve(raw, defs)
    out: dict[str, Any] = {"type": spec.get("type")}
    if "allowedValues" in spec:
        out["allowedValues"] = spec["allowedValues"]
    if isinstance(spec.get("properties"), dict):
        props = {k: _resolve(v, defs) for k, v in spec["properties"].items()}
        out["properties"] = sorted(props)
        out["requiredProperties"] = sorted(
            k for k, v in props.items() if not v.get("nullable") and "defaultValue" not in v
        )
    out["required"] = "defaultValue" not in raw and not spec.get("nullable")
    return out


def main(module: str, version: str) -> dict[str, Any]:
    tag = f"avm/res/{module}/{version}"
    template = json.loads(_git("show", f"{tag}:avm/res/{module}/main.json"))
    defs = template.get("definitions", {})
    return {
        "_source": {
            "repo": "Azure/bicep-registry-modules",
            "tag": tag,
            "commit": _git("rev-list", "-n1", tag).strip(),
            "path": f"avm/res/{module}/main.json",
            "registry": f"br/public:avm/res/{module}:{version}",
            "note": "Parameters of the module's compiled template at that release tag: required means no "
            "defaultValue and not nullable (own or via its user-defined type); object parameters with a "
            "user-defined type list their property names.",
        },
        "module": f"avm/res/{module}",
        "version": version,
        "parameters": {n: _describe(p, defs) for n, p in sorted(template["parameters"].items())},
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), indent=1))
