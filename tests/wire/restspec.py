"""Validate a recorded request body against Azure's published REST specification (the vendored
extracts in tests/wire/specs/, see SOURCE.md there), with jsonschema.

The extracts keep the specs' own (Swagger 2.0) shape; this module turns one definition and its
$ref closure into a JSON Schema that is stricter than Swagger reads by default, because the point is
to catch what Azure would reject or silently drop:

- every object we send is closed (`additionalProperties: false`, with the properties of its `allOf`
  bases merged in, since JSON Schema's additionalProperties does not look into allOf): an unknown
  property fails;
- `required` is required, including the bases' required lists;
- a `readOnly` property must not be sent;
- a `$ref` to a polymorphic base (one with a `discriminator`) is resolved to the concrete
  definition(s) whose `x-ms-discriminator-value` equals the body's discriminator value (jobType,
  jobInputType, dataType, endpointComputeType, ...); an unknown value fails;
- `x-nullable` admits null; enums marked `modelAsString` compare case-insensitively (ARM and the
  Azure ML service accept either case; azure-ai-ml itself sends e.g. `dataCollectionMode: "enabled"`),
  other enums exactly.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SPECS = Path(__file__).parent / "specs"


@cache
def _definitions(spec_file: str) -> dict[str, Any]:
    return json.loads((SPECS / spec_file).read_text())["definitions"]


def _resolve(ref: str, spec_file: str) -> tuple[str, str]:
    """`#/definitions/X` or `other.json#/definitions/X` -> (file, X)."""
    file, _, pointer = ref.partition("#")
    return (file or spec_file), pointer.removeprefix("/definitions/")


def _key(spec_file: str, name: str) -> str:
    return f"{spec_file.removesuffix('.json')}.{name}"


class _Builder:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def ref(self, spec_file: str, name: str) -> dict[str, Any]:
        """A reference to a definition, polymorphic ones resolved through their discriminator."""
        definition = _definitions(spec_file)[name]
        if "discriminator" in definition and "x-ms-discriminator-value" not in definition:
            key = _key(spec_file, name) + ".polymorphic"
            if key not in self.defs:
                self.defs[key] = {}
                self.defs[key] = self._polymorphic(spec_file, name, definition["discriminator"])
            return {"$ref": f"#/$defs/{key}"}
        return self._concrete_ref(spec_file, name)

    def _concrete_ref(self, spec_file: str, name: str) -> dict[str, Any]:
        key = _key(spec_file, name)
        if key not in self.defs:
            self.defs[key] = {}
            self.defs[key] = self._concrete(spec_file, name)
        return {"$ref": f"#/$defs/{key}"}

    def _bases(self, spec_file: str, name: str) -> list[tuple[str, str]]:
        """The definition and every allOf base, transitively."""
        chain = [(spec_file, name)]
        for base in _definitions(spec_file)[name].get("allOf", []):
            chain += self._bases(*_resolve(base["$ref"], spec_file))
        return chain

    def _polymorphic(self, spec_file: str, base: str, discriminator: str) -> dict[str, Any]:
        by_value: dict[str, list[str]] = {}
        for name, definition in _definitions(spec_file).items():
            value = definition.get("x-ms-discriminator-value")
            if value is not None and (spec_file, base) in self._bases(spec_file, name)[1:]:
                by_value.setdefault(value, []).append(name)
        branches = []
        for value, names in sorted(by_value.items()):
            refs = [self._concrete_ref(spec_file, n) for n in names]
            branches.append(
                {
                    "if": {"properties": {discriminator: {"const": value}}, "required": [discriminator]},
                    "then": refs[0] if len(refs) == 1 else {"anyOf": refs},
                }
            )
        return {
            "type": "object",
            "required": [discriminator],
            "properties": {discriminator: {"enum": sorted(by_value)}},
            "allOf": branches,
        }

    def _concrete(self, spec_file: str, name: str) -> dict[str, Any]:
        definition = _definitions(spec_file)[name]
        if definition.get("x-not-extracted"):
            return {"type": "object"}
        if "properties" not in definition and "allOf" not in definition:
            values = definition.get("additionalProperties")
            if isinstance(values, dict):  # a map definition (Data Factory's ParameterValueSpecification)
                # AutoRest reads a bare {"type": "object"} value as any JSON value
                any_value = values == {"type": "object"}
                return {
                    "type": "object",
                    "additionalProperties": {} if any_value else self.schema(values, spec_file),
                }
        properties: dict[str, Any] = {}
        required: list[str] = []
        for file, each in reversed(self._bases(spec_file, name)):
            definition = _definitions(file)[each]
            if "enum" in definition:
                return self._enum(definition)
            for prop, spec in definition.get("properties", {}).items():
                properties[prop] = self.schema(spec, file)
            required += [r for r in definition.get("required", []) if r not in required]
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }

    @staticmethod
    def _enum(spec: dict[str, Any]) -> dict[str, Any]:
        if spec.get("x-ms-enum", {}).get("modelAsString"):
            alternatives = "|".join(re.escape(v) for v in spec["enum"])
            return {"type": "string", "pattern": f"(?i)^({alternatives})$"}
        return {"enum": spec["enum"]}

    def schema(self, spec: dict[str, Any], spec_file: str) -> Any:
        """The JSON Schema of one property (or map value, or array item) of a definition."""
        if spec.get("readOnly"):
            return False  # the service sets it; a client that sends it is wrong
        if "$ref" in spec:
            schema: dict[str, Any] = self.ref(*_resolve(spec["$ref"], spec_file))
        elif "enum" in spec:
            schema = self._enum(spec)
        else:
            schema = {}
            if "type" in spec:
                schema["type"] = spec["type"]
            if isinstance(spec.get("additionalProperties"), dict):
                schema["additionalProperties"] = self.schema(spec["additionalProperties"], spec_file)
            if "items" in spec:
                schema["items"] = self.schema(spec["items"], spec_file)
            for keyword in ("minLength", "pattern"):
                if keyword in spec:
                    schema[keyword] = spec[keyword]
        if spec.get("x-nullable"):
            return {"anyOf": [schema, {"type": "null"}]}
        return schema


@cache
def json_schema(definition: str, spec_file: str) -> dict[str, Any]:
    """The JSON Schema a request body of `definition` (in `spec_file`) must satisfy."""
    builder = _Builder()
    root = builder.ref(spec_file, definition)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **root, "$defs": builder.defs}


def _messages(error: ValidationError) -> list[str]:
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    if error.context:  # anyOf / if-then: say why each alternative failed (not "it is not null")
        return [m for sub in error.context if sub.schema != {"type": "null"} for m in _messages(sub)]
    return [f"{where}: {error.message}"]


def problems(body: Any, definition: str, spec_file: str) -> list[str]:
    """Everything in `body` that the published specification does not allow, or [] if nothing."""
    validator = Draft202012Validator(json_schema(definition, spec_file))
    return sorted(m for error in validator.iter_errors(body) for m in _messages(error))


def operation_problems(
    method: str, path: str, query: dict[str, str], spec_file: str
) -> tuple[str, list[str]]:
    """(operationId, problems) of a recorded request against the `paths` of a spec extract: the
    method and path must match one operation, each path segment its parameter's pattern and length,
    and the query may name only that operation's query parameters, with every required one."""
    spec = json.loads((SPECS / spec_file).read_text())
    shared = spec.get("parameters", {})
    for template, operations in spec["paths"].items():
        names = re.findall(r"{([^}]+)}", template)
        regex = "^" + re.sub(r"\\{[^}]+\\}", "([^/]+)", re.escape(template)) + "$"
        match = re.match(regex, path, flags=re.IGNORECASE)
        operation = operations.get(method.lower())
        if not match or operation is None:
            continue
        params = [shared[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p for p in operation["parameters"]]
        found: list[str] = []
        values = dict(zip(names, match.groups(), strict=True))
        for param in params:
            if param["in"] == "path":
                value = values[param["name"]]
                if "pattern" in param and not re.search(param["pattern"], value):
                    found.append(f"path {param['name']}={value!r} does not match {param['pattern']}")
                if not param.get("minLength", 0) <= len(value) <= param.get("maxLength", 10**9):
                    found.append(f"path {param['name']}={value!r} has a length out of range")
        allowed = {p["name"] for p in params if p["in"] == "query"}
        required = {p["name"] for p in params if p["in"] == "query" and p.get("required")}
        found += [
            f"query {q!r} is not a parameter of {operation['operationId']}"
            for q in sorted(set(query) - allowed)
        ]
        found += [f"query {q!r} is required" for q in sorted(required - set(query))]
        return operation["operationId"], found
    return "", [f"{method} {path}: no operation of {spec_file} has this method and path"]
