"""Invalid request bodies derived from an OpenAPI request schema, for the negative-input pass.

Each case breaks one rule of the schema (a required property missing, a wrong type, a value
outside an enum or a pattern, an empty string where one is forbidden) starting from a valid
example, plus bodies that are not the declared object at all. A conformant API answers each
with its documented 4xx, never with a 5xx or a success.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NegativeCase:
    name: str  # e.g. "missing:channel", "enum:channel", "not-json"
    body: bytes
    content_type: str = "application/json"
    invalid: bool = True  # False: valid but unusual input, where only "no 5xx, as documented" is owed


_WRONG_TYPE = {
    "string": 12345,
    "integer": "not-a-number",
    "number": "not-a-number",
    "boolean": "yes",
    "array": {"not": "an array"},
    "object": ["not", "an", "object"],
}


def negative_cases(schema: Mapping[str, Any], valid: Mapping[str, Any]) -> Iterator[NegativeCase]:
    """One case per rule of a top-level object schema, then structurally broken bodies."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        yield _case(f"missing:{name}", {k: v for k, v in valid.items() if k != name})
    for name, rules in properties.items():
        kind = rules.get("type")
        if kind in _WRONG_TYPE:
            yield _case(f"type:{name}", {**valid, name: _WRONG_TYPE[kind]})
        if "enum" in rules:
            yield _case(f"enum:{name}", {**valid, name: "NOT-" + str(rules["enum"][0])})
        if "pattern" in rules:
            yield _case(f"pattern:{name}", {**valid, name: "x!"})
        if kind == "string" and rules.get("minLength", 0) >= 1:
            yield _case(f"empty:{name}", {**valid, name: ""})
        if kind == "string" and name in schema.get("required", []) and rules.get("nullable") is not True:
            yield _case(f"null:{name}", {**valid, name: None})
    yield NegativeCase("not-json", b"{not json")
    yield NegativeCase("empty-body", b"")
    yield _case("array-instead-of-object", [copy.deepcopy(dict(valid))])
    yield _case("string-instead-of-object", "connect")
    yield NegativeCase("form-instead-of-json", b"a=1&b=2", "application/x-www-form-urlencoded")
    first = next(iter(properties), None)
    if first is not None and "maxLength" not in properties[first]:
        yield _case("huge-string", {**valid, first: "9" * 100_000}, invalid=False)


def _case(name: str, body: Any, *, invalid: bool = True) -> NegativeCase:
    return NegativeCase(name, json.dumps(body).encode(), invalid=invalid)
