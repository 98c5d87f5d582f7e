"""Check a request body against (an extract of) Azure's published REST specification: every key
is a property of its definition (or of an allOf base), no read-only property is sent, required
properties are present and enum values are known (case-insensitively: the enums here are
`modelAsString`, and ARM compares them case-insensitively)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPECS = Path(__file__).parent / "specs"


@cache
def definitions(spec_file: str) -> dict[str, Any]:
    return json.loads((SPECS / spec_file).read_text())["definitions"]


def _properties(defs: dict[str, Any], name: str) -> tuple[dict[str, Any], list[str]]:
    definition = defs[name]
    props: dict[str, Any] = {}
    required: list[str] = list(definition.get("required", []))
    for base in definition.get("allOf", []):
        base_props, base_required = _properties(defs, base)
        props.update(base_props)
        required += base_required
    props.update(definition.get("properties", {}))
    return props, required


def problems(body: Any, definition: str, spec_file: str, path: str = "") -> list[str]:
    defs = definitions(spec_file)
    found: list[str] = []
    if "enum" in defs[definition]:
        allowed = defs[definition]["enum"]
        if str(body).lower() not in {a.lower() for a in allowed}:
            found.append(f"{path or definition}: {body!r} is not one of {allowed}")
        return found
    if not isinstance(body, dict):
        return [f"{path or definition}: expected an object, got {type(body).__name__}"]
    props, required = _properties(defs, definition)
    for key in required:
        if key not in body:
            found.append(f"{path}{key}: required by {definition} but not sent")
    for key, value in body.items():
        spec = props.get(key)
        if spec is None:
            found.append(f"{path}{key}: not a property of {definition}")
        elif spec.get("readOnly"):
            found.append(f"{path}{key}: read-only in {definition}, must not be sent")
        elif "$ref" in spec and value is not None:
            found += problems(value, spec["$ref"], spec_file, f"{path}{key}.")
        elif isinstance(spec.get("additionalProperties"), dict) and isinstance(value, dict):
            ref = spec["additionalProperties"].get("$ref")  # a map of named objects
            for name, item in value.items():
                if ref and item is not None:
                    found += problems(item, ref, spec_file, f"{path}{key}.{name}.")
    return found
