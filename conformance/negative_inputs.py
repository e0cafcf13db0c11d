"""Invalid request bodies derived from an OpenAPI request schema, for the negative-input pass.

Each case breaks one rule, starting from a valid example, and says which kind of rule it breaks,
because that decides how much a refusal is owed:

- ``structure``: the body is not the declared JSON object at all (not JSON, empty, an array, a
  string, a form). Every document of the API Conformité, upstream included, declares an
  ``application/json`` object: a conformant proxy refuses these with a 4xx and calls nobody;
- ``schema``: one property breaks a rule of the schema it was generated from (a required property
  missing, a wrong JSON type, a value outside an enum or a pattern, an empty or null string). The
  upstream document states none of these rules but the types, and a lenient parser may coerce a
  type: these are judged against the project's document, as warnings;
- ``unusual``: a valid but unusual input (a very long string), where only "no server error" is owed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

CaseKind = Literal["structure", "schema", "unusual"]


@dataclass(frozen=True)
class NegativeCase:
    name: str  # e.g. "missing:channel", "enum:channel", "not-json"
    body: bytes
    content_type: str = "application/json"
    kind: CaseKind = "schema"
    rule: str = ""  # the rule it breaks, as an auditor reads it, e.g. "channel: enum ['CARD', 'MOBILE']"

    @property
    def invalid(self) -> bool:
        """False for a valid but unusual input, where only "no 5xx, as documented" is owed."""
        return self.kind != "unusual"


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
    required = list(schema.get("required", []))
    for name in required:
        yield _case(
            f"missing:{name}", {k: v for k, v in valid.items() if k != name}, rule=f"{name}: required"
        )
    for name, rules in properties.items():
        kind = rules.get("type")
        if kind in _WRONG_TYPE:
            yield _case(f"type:{name}", {**valid, name: _WRONG_TYPE[kind]}, rule=f"{name}: type {kind}")
        if "enum" in rules:
            yield _case(
                f"enum:{name}",
                {**valid, name: "NOT-" + str(rules["enum"][0])},
                rule=f"{name}: enum {rules['enum']}",
            )
        if "pattern" in rules:
            yield _case(f"pattern:{name}", {**valid, name: "x!"}, rule=f"{name}: pattern {rules['pattern']}")
        if kind == "string" and rules.get("minLength", 0) >= 1:
            yield _case(f"empty:{name}", {**valid, name: ""}, rule=f"{name}: minLength {rules['minLength']}")
        if kind == "string" and name in required and rules.get("nullable") is not True:
            yield _case(
                f"null:{name}", {**valid, name: None}, rule=f"{name}: a required string, not nullable"
            )
    yield NegativeCase("not-json", b"{not json", kind="structure", rule="the body is JSON")
    yield NegativeCase("empty-body", b"", kind="structure", rule="the body is a JSON object")
    yield _case("array-instead-of-object", [copy.deepcopy(dict(valid))], kind="structure", rule="type object")
    yield _case("string-instead-of-object", "connect", kind="structure", rule="type object")
    yield NegativeCase(
        "form-instead-of-json",
        b"a=1&b=2",
        "application/x-www-form-urlencoded",
        kind="structure",
        rule="media type application/json",
    )
    first = next(iter(properties), None)
    if first is not None and "maxLength" not in properties[first]:
        yield _case(
            "huge-string", {**valid, first: "9" * 100_000}, kind="unusual", rule=f"{first}: no maxLength"
        )


def _case(name: str, body: Any, *, kind: CaseKind = "schema", rule: str = "") -> NegativeCase:
    return NegativeCase(name, json.dumps(body).encode(), kind=kind, rule=rule)
