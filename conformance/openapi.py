"""OpenAPI 3.0 documents of the API Conformité and the API PSC: loading, operation lookup, validation.

The contract and negative-input scenarios judge what a SUT answers against two documents: the upstream
contract, whose departures fail — ANS's upstream file when a user gives it (:func:`load_upstream`, loaded
unchanged, its known defects reported as :class:`DocumentWarning` instead of refusing the file, then read
leniently by :func:`baseline_of`), else the project's statement of the same facts
(``swagger/api-conformite-baseline.json``, :func:`load_baseline`) — and ours (``swagger/api-conformite.json``,
``swagger/api-psc.json``, see :func:`load_normative`), stricter, whose additions only warn
(see swagger/README.md).

Validation uses ``jsonschema`` only. OpenAPI 3.0 Schema Objects are not JSON Schema: before validating,
each schema is converted (``nullable: true`` adds ``"null"`` to ``type``; ``readOnly`` / ``writeOnly``
properties leave ``required`` on the side where they are not sent; ``pattern`` gets ECMA-262 semantics
for ``$`` and ``\\d``; ``example``, ``xml``, ``externalDocs`` and ``deprecated`` are dropped) and
validated with the draft 4 rules that OpenAPI 3.0 builds on, ``$ref`` resolved through a
``referencing.Registry`` holding the whole converted document. ``date-time`` and ``date`` are checked
(RFC 3339) without extra dependencies.

Path matching follows OpenAPI (concrete paths before templated ones) with two routing facts of the
Proxy e-Santé: the last variable of ``/send/{api}/{endpoint}`` is greedy (``/send/apipsc/a/b/c`` gives
``endpoint = "a/b/c"``; marked ``x-greedy: true`` in our document, and assumed for any template under
``/send/``), and the upstream document's bare ``/send`` also matches ``/send/...``, as the real proxy
routes it (see :attr:`OpenApiDocument.prefix_paths`).

Problems are short English sentences an auditor can read, e.g.
``200 application/json: $.proxy_session_id: 'proxy_session_id' is a required property``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import unquote

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT4

from conformance.errors import UsageError
from conformance.paths import REINSTALL_HINT, project_root

NormativeName = Literal["api-conformite", "api-psc"]
BaselineName = Literal["api-conformite-baseline", "api-psc-baseline"]
Variant = Literal["request", "response"]

NORMATIVE_NAMES: Final[tuple[NormativeName, ...]] = ("api-conformite", "api-psc")
BASELINE_NAME: Final = "api-conformite-baseline"
API_PSC_BASELINE_NAME: Final = "api-psc-baseline"
HTTP_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CONNECT_FIELDS: Final = ("nationalId", "bindingMessage", "clientId", "channel")

_BASE_URI: Final = "urn:psc-conformance:openapi"
_DROPPED_KEYWORDS: Final = frozenset(
    {"nullable", "example", "xml", "externalDocs", "deprecated", "readOnly", "writeOnly"}
)
_MAX_REPR: Final = 80


class OpenApiError(UsageError):
    """An OpenAPI document that cannot be used: unreadable, not JSON, not OpenAPI 3.0, bad `$ref`."""


@dataclass(frozen=True)
class DocumentWarning:
    """A known defect found in a document that is loaded anyway (upstream files)."""

    code: str  # stable id, e.g. "path-level-security"
    where: str  # e.g. "paths./send" or "POST /connect"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


# -- formats -----------------------------------------------------------------------------------------

_DATE_TIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))", re.ASCII
)
_DATE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)

FORMAT_CHECKER: Final = FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time")
def _is_date_time(value: object) -> bool:
    """RFC 3339 §5.6 `date-time` (jsonschema checks it only with an extra package installed)."""
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    offset_h, offset_m = match.group(7), match.group(8)
    if offset_h is not None and (int(offset_h) > 23 or int(offset_m) > 59):
        return False
    try:
        dt.datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return second <= 60  # 60: a leap second, which RFC 3339 allows


@FORMAT_CHECKER.checks("date")
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    match = _DATE.fullmatch(value)
    if match is None:
        return False
    try:
        dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return False
    return True


# -- JSON pointers -----------------------------------------------------------------------------------


def _pointer(*keys: str | int) -> str:
    return "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in keys)


def _lookup(data: Any, pointer: str) -> Any:
    """The node at a JSON pointer (RFC 6901); KeyError when there is none."""
    node = data
    if not pointer:
        return node
    for raw in pointer[1:].split("/"):
        segment = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            raise KeyError(pointer)
    return node


def _where(pointer: str) -> str:
    """A pointer as an auditor reads it: `paths./send/{api}/{endpoint}.get`."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")] if pointer else []
    return ".".join(parts) or "(document)"


# -- schema conversion (OpenAPI 3.0 Schema Object → JSON Schema draft 4) -----------------------------


_ORIGINAL_PATTERNS: dict[str, str] = {}


def _ecma_pattern(pattern: str) -> str:
    """ECMA-262 semantics under Python's `re.search`: `\\d` is ASCII, and a final `$` ends the input
    (Python's `$` also matches before a final newline, so `^[0-9]{2}$` would accept "12\\n")."""
    converted = pattern
    if converted.endswith("$"):
        backslashes = len(converted[:-1]) - len(converted[:-1].rstrip("\\"))
        if backslashes % 2 == 0:
            converted = converted[:-1] + r"\Z"
    converted = "(?a)" + converted
    _ORIGINAL_PATTERNS[converted] = pattern  # messages quote the document's pattern, not ours
    return converted


def _convert_schema(schema: Any, variant: Variant) -> Any:
    if not isinstance(schema, Mapping):
        return schema
    if "$ref" in schema:  # OpenAPI 3.0: siblings of $ref are ignored
        ref = schema["$ref"]
        return {"$ref": _BASE_URI + ref if isinstance(ref, str) and ref.startswith("#") else ref}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {name: _convert_schema(sub, variant) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _convert_schema(value, variant)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_convert_schema(sub, variant) for sub in value]
        elif key == "pattern" and isinstance(value, str):
            out[key] = _ecma_pattern(value)
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        # OpenAPI 3.0.3: `nullable` adds null to an explicit `type` only (an `enum` must list null itself).
        out["type"] = [out["type"], "null"]
    properties = schema.get("properties")
    if isinstance(out.get("required"), list) and isinstance(properties, Mapping):
        unsent = "readOnly" if variant == "request" else "writeOnly"
        out["required"] = [
            name
            for name in out["required"]
            if not (isinstance(properties.get(name), Mapping) and properties[name].get(unsent) is True)
        ]
    return out


def _convert_document(data: Mapping[str, Any], variant: Variant) -> dict[str, Any]:
    """A copy of the document whose every Schema Object is converted; the rest keeps its place, so that
    a pointer into the original document finds the converted schema in the copy."""
    doc: dict[str, Any] = copy.deepcopy(dict(data))

    def dicts(node: Any) -> Iterator[dict[str, Any]]:
        values = node.values() if isinstance(node, Mapping) else node if isinstance(node, list) else ()
        yield from (v for v in values if isinstance(v, dict))

    def content(node: dict[str, Any]) -> None:
        for media in dicts(node.get("content")):
            if "schema" in media:
                media["schema"] = _convert_schema(media["schema"], variant)

    def parameter(node: dict[str, Any]) -> None:  # also a Header Object
        if "schema" in node:
            node["schema"] = _convert_schema(node["schema"], variant)
        content(node)

    def response(node: dict[str, Any]) -> None:
        for header in dicts(node.get("headers")):
            parameter(header)
        content(node)

    for item in dicts(doc.get("paths")):
        for param in dicts(item.get("parameters")):
            parameter(param)
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            for param in dicts(operation.get("parameters")):
                parameter(param)
            if isinstance(operation.get("requestBody"), dict):
                content(operation["requestBody"])
            for resp in dicts(operation.get("responses")):
                response(resp)
    components = doc.get("components")
    if isinstance(components, dict):
        schemas = components.get("schemas")
        if isinstance(schemas, dict):
            for name in list(schemas):
                schemas[name] = _convert_schema(schemas[name], variant)
        for param in dicts(components.get("parameters")):
            parameter(param)
        for header in dicts(components.get("headers")):
            parameter(header)
        for body in dicts(components.get("requestBodies")):
            content(body)
        for resp in dicts(components.get("responses")):
            response(resp)
    return doc


# -- messages ----------------------------------------------------------------------------------------

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _json_path(parts: Iterable[str | int]) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(part, ensure_ascii=False) + "]"
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 1] + "…"


def _message(error: ValidationError) -> str:
    """jsonschema's message, with the offending instance shortened (a whole traces list is no help)."""
    if error.validator == "pattern" and isinstance(error.validator_value, str):
        original = _ORIGINAL_PATTERNS.get(error.validator_value, error.validator_value)
        return f"{_short(error.instance)} does not match {original!r}"
    message = error.message
    full = repr(error.instance)
    if len(full) > _MAX_REPR and message.startswith(full):
        message = _short(error.instance) + message[len(full) :]
    return message


def _error_order(error: ValidationError) -> tuple[str, str]:
    return (_json_path(error.absolute_path), error.message)


def _describe(error: ValidationError) -> list[str]:
    """One or more `<json path>: <what is wrong>` lines for a validation error."""
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = next(
            (p for p in error.validator_value if f"{p!r} is a required property" == error.message), None
        )
        if missing is not None:
            return [f"{_json_path([*path, missing])}: {error.message}"]
    if error.validator in ("oneOf", "anyOf"):
        chosen = _discriminated(error)
        if chosen is not None:
            return chosen
        if not error.context:
            return [f"{_json_path(path)}: matches more than one of the {error.validator} alternatives"]
        closest = best_match(error.context)
        detail = _describe(closest)[0] if closest is not None else ""
        return [f"{_json_path(path)}: matches none of the {error.validator} alternatives (closest: {detail})"]
    return [f"{_json_path(path)}: {_message(error)}"]


def _discriminated(error: ValidationError) -> list[str] | None:
    """With a `discriminator`, report what is wrong in the alternative the instance names, not a list of
    failures of every alternative: `SEND` without `apiRequest` reads as just that."""
    schema, instance = error.schema, error.instance
    discriminator = schema.get("discriminator") if isinstance(schema, Mapping) else None
    if not isinstance(discriminator, Mapping) or not isinstance(instance, Mapping):
        return None
    prop = discriminator.get("propertyName")
    if not isinstance(prop, str) or prop not in instance:
        return None
    branches = schema.get(str(error.validator))
    if not isinstance(branches, list):
        return None
    refs = [b.get("$ref", "") if isinstance(b, Mapping) else "" for b in branches]
    mapping = discriminator.get("mapping") or {}
    value = instance[prop]
    target = mapping.get(value) if isinstance(value, str) else None
    if target is None and isinstance(value, str):
        target = value  # implicit mapping: the schema's name
    known = sorted(mapping) if mapping else sorted(r.rsplit("/", 1)[-1] for r in refs if r)
    index = None
    if target is not None:
        fragment = target if target.startswith("#") else f"#/components/schemas/{target}"
        index = next((i for i, r in enumerate(refs) if r and r.endswith(fragment)), None)
    if index is None:
        return [f"{_json_path([*error.absolute_path, prop])}: {_short(value)} is not one of {known}"]
    chosen = sorted(
        (e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == index),
        key=_error_order,
    )
    if not chosen:
        return None
    return [line for e in chosen for line in _describe(e)]


def _dedupe(lines: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(lines))


# -- media types -------------------------------------------------------------------------------------


def _media_type(value: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json`."""
    return (value or "").split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _match_media(content: Mapping[str, Any], actual: str) -> str | None:
    """The key of `content` that covers `actual`: exact, then `type/*`, then `*/*`."""
    keys = {_media_type(k): k for k in content}
    for candidate in (actual, actual.split("/", 1)[0] + "/*", "*/*"):
        if candidate in keys:
            return keys[candidate]
    return None


def _meaningful(schema: Any) -> bool:
    return isinstance(schema, Mapping) and bool(schema)


def _parse_json(body: bytes) -> Any:
    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(body.decode("utf-8"), parse_constant=reject)


def _coerce(value: str, schema: Any) -> Any:
    """A parameter's text as the type its schema declares, so that the schema can judge it."""
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if kind == "integer" and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


# -- the document ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PathMatcher:
    template: str
    regex: re.Pattern[str]
    names: tuple[str, ...]


class OpenApiDocument:
    """A loaded OpenAPI 3.0 document, left as it was read (`data`), with lookup and validation.

    `warnings` lists the known defects found by :func:`load_upstream` (empty for our documents);
    `prefix_paths` holds path templates that also match any sub-path (the upstream bare `/send`).
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        source: str = "<memory>",
        warnings: Sequence[DocumentWarning] = (),
        prefix_paths: Iterable[str] = (),
    ) -> None:
        _check_shape(data, source)
        self.data: Mapping[str, Any] = data
        self.source = source
        self.warnings: list[DocumentWarning] = list(warnings)
        self.prefix_paths: frozenset[str] = frozenset(prefix_paths)
        self._matchers: list[_PathMatcher] | None = None
        self._registries: dict[Variant, tuple[dict[str, Any], Registry[Any]]] = {}
        self._validators: dict[tuple[Variant, str], Draft4Validator] = {}

    def __repr__(self) -> str:
        return f"OpenApiDocument({self.title!r} {self.version!r} from {self.source})"

    @property
    def title(self) -> str:
        return str(_mapping(self.data.get("info")).get("title", ""))

    @property
    def version(self) -> str:
        return str(_mapping(self.data.get("info")).get("version", ""))

    @property
    def paths(self) -> Mapping[str, Any]:
        paths = self.data.get("paths")
        return paths if isinstance(paths, Mapping) else {}

    # -- references ----------------------------------------------------------------------------------

    def resolve(self, node: Any, pointer: str) -> tuple[Any, str]:
        """Follow Reference Objects (`{"$ref": "#/…"}`) to the node they name, and its pointer."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise OpenApiError(f"{self.source}: {_where(pointer)}: only local $ref are supported: {ref}")
            target = unquote(ref[1:])
            if target in seen:
                raise OpenApiError(f"{self.source}: {_where(pointer)}: circular $ref {ref!r}")
            seen.add(target)
            try:
                node = _lookup(self.data, target)
            except KeyError:
                raise OpenApiError(f"{self.source}: {_where(pointer)}: $ref {ref} resolves nowhere") from None
            pointer = target
        return node, pointer

    def schema(self, name: str) -> Mapping[str, Any] | None:
        """`components.schemas.<name>` as written."""
        schemas = _mapping(self.data.get("components")).get("schemas")
        found = schemas.get(name) if isinstance(schemas, Mapping) else None
        return found if isinstance(found, Mapping) else None

    # -- operations ----------------------------------------------------------------------------------

    def operations(self) -> Iterator[Operation]:
        """Every operation, in document order (no path parameters bound)."""
        for template, item in self.paths.items():
            item, _ = self.resolve(item, _pointer("paths", template))
            for method, operation in item.items() if isinstance(item, Mapping) else ():
                if method in HTTP_METHODS and isinstance(operation, Mapping):
                    yield Operation(self, method.upper(), template)

    def match_path(self, path: str) -> tuple[str, dict[str, str]] | None:
        """The path template serving `path` (query ignored) and its parameters, whatever the method."""
        path = path.split("#", 1)[0].split("?", 1)[0]
        for matcher in self._path_matchers():
            match = matcher.regex.fullmatch(path)
            if match is not None:
                return matcher.template, dict(zip(matcher.names, map(unquote, match.groups()), strict=True))
        return None

    def operation(self, method: str, path: str, *, base_path: str = "") -> Operation | None:
        """The operation serving `method path` (the query is ignored), or None.

        `path` is relative to the server URL; a `base_path` (e.g. `/mockservice/apipsc`) is removed first.
        Concrete templates win over templated ones; a template that serves the path but not the method
        does not stop the search.
        """
        path = path.split("#", 1)[0].split("?", 1)[0]
        if base_path and path.startswith(base_path.rstrip("/") + "/"):
            path = path[len(base_path.rstrip("/")) :]
        wanted = method.lower()
        for matcher in self._path_matchers():
            match = matcher.regex.fullmatch(path)
            if match is None:
                continue
            item, _ = self.resolve(self.paths[matcher.template], _pointer("paths", matcher.template))
            if isinstance(item, Mapping) and isinstance(item.get(wanted), Mapping):
                params = dict(zip(matcher.names, map(unquote, match.groups()), strict=True))
                return Operation(self, method.upper(), matcher.template, params)
        return None

    def _path_matchers(self) -> list[_PathMatcher]:
        if self._matchers is None:
            matchers = [self._compile(template) for template in self.paths]
            matchers.sort(key=lambda m: (len(m.names), -len(re.sub(r"\{[^{}]*\}", "", m.template))))
            self._matchers = matchers
        return self._matchers

    def _compile(self, template: str) -> _PathMatcher:
        tokens = [t for t in re.split(r"(\{[^{}/]+\})", template) if t]
        variables = [i for i, t in enumerate(tokens) if t.startswith("{") and t.endswith("}")]
        pattern, names = "", []
        for i, token in enumerate(tokens):
            if i in variables:
                name = token[1:-1]
                names.append(name)
                last = i == variables[-1] and i == len(tokens) - 1
                pattern += "(.+)" if last and self._greedy(template, name) else "([^/]+)"
            else:
                pattern += re.escape(token)
        if template in self.prefix_paths:
            pattern += "(?:/.*)?"
        return _PathMatcher(template, re.compile(pattern, re.DOTALL), tuple(names))

    def _greedy(self, template: str, name: str) -> bool:
        """Whether the final variable takes several segments: `x-greedy: true` on its parameter, or any
        template under `/send/` (the proxy's route `/send/<api>/<endpoint>`)."""
        if template.startswith("/send/"):
            return True
        item, pointer = self.resolve(self.paths[template], _pointer("paths", template))
        lists = [item.get("parameters")] + [
            op.get("parameters") for m in HTTP_METHODS if isinstance(op := item.get(m), Mapping)
        ]
        for params in lists:
            for i, raw in enumerate(params if isinstance(params, list) else []):
                param, _ = self.resolve(raw, f"{pointer}/parameters/{i}")
                if (
                    isinstance(param, Mapping)
                    and param.get("in") == "path"
                    and param.get("name") == name
                    and param.get("x-greedy") is True
                ):
                    return True
        return False

    # -- schema validation ---------------------------------------------------------------------------

    def _validator(self, variant: Variant, pointer: str) -> Draft4Validator:
        key = (variant, pointer)
        validator = self._validators.get(key)
        if validator is None:
            if variant not in self._registries:
                converted = _convert_document(self.data, variant)
                resource = DRAFT4.create_resource(converted)
                registry: Registry[Any] = Registry().with_resource(_BASE_URI, resource)
                self._registries[variant] = (converted, registry)
            converted, registry = self._registries[variant]
            schema = _lookup(converted, pointer)
            validator = Draft4Validator(schema, registry=registry, format_checker=FORMAT_CHECKER)
            self._validators[key] = validator
        return validator

    def schema_problems(self, pointer: str, instance: Any, *, variant: Variant = "response") -> list[str]:
        """`<json path>: <problem>` lines for `instance` against the Schema Object at `pointer`."""
        try:
            validator = self._validator(variant, pointer)
            errors = sorted(validator.iter_errors(instance), key=_error_order)
        except KeyError:
            return [f"no schema at {_where(pointer)} in {self.source}"]
        except Unresolvable as exc:
            return [f"the document's schema cannot be used: unresolvable reference {exc}"]
        except re.error as exc:
            return [f"the document's schema cannot be used: invalid pattern ({exc})"]
        return _dedupe(line for error in errors for line in _describe(error))

    def validate_schema(self, name: str, instance: Any, *, variant: Variant = "response") -> list[str]:
        """Problems of `instance` against `components.schemas.<name>`."""
        if self.schema(name) is None:
            return [f"no schema {name!r} in {self.source}"]
        return self.schema_problems(_pointer("components", "schemas", name), instance, variant=variant)


@dataclass(frozen=True)
class Operation:
    """One operation of a document; from :meth:`OpenApiDocument.operation` it also carries the values of
    the path parameters of the path it was matched against."""

    document: OpenApiDocument
    method: str  # upper case
    template: str
    path_params: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def pointer(self) -> str:
        _, item_pointer = self.document.resolve(
            self.document.paths[self.template], _pointer("paths", self.template)
        )
        return f"{item_pointer}/{self.method.lower()}"

    @property
    def raw(self) -> Mapping[str, Any]:
        node: Mapping[str, Any] = _lookup(self.document.data, self.pointer)
        return node

    @property
    def operation_id(self) -> str | None:
        value = self.raw.get("operationId")
        return value if isinstance(value, str) else None

    @property
    def security(self) -> list[Mapping[str, Any]]:
        """The requirements that apply: the operation's, else the document's. A `security` on a path item
        (invalid OpenAPI 3.0, seen upstream) is ignored."""
        value = self.raw.get("security", self.document.data.get("security", []))
        return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []

    def parameters(self) -> list[tuple[Mapping[str, Any], str]]:
        """Path-item and operation parameters (the operation's override by name and location), resolved,
        each with its pointer."""
        item_pointer = self.pointer.rsplit("/", 1)[0]
        merged: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = {}
        for base in (item_pointer, self.pointer):
            params = _lookup(self.document.data, base).get("parameters")
            for i, raw in enumerate(params if isinstance(params, list) else []):
                param, pointer = self.document.resolve(raw, f"{base}/parameters/{i}")
                if isinstance(param, Mapping):
                    location = str(param.get("in", ""))
                    name = str(param.get("name", ""))
                    key = (location, name.lower() if location == "header" else name)
                    merged[key] = (param, pointer)
        return list(merged.values())

    def request_body(self) -> tuple[Mapping[str, Any], str] | None:
        raw = self.raw.get("requestBody")
        if raw is None:
            return None
        body, pointer = self.document.resolve(raw, self.pointer + "/requestBody")
        return (body, pointer) if isinstance(body, Mapping) else None

    def declared_statuses(self) -> list[str]:
        responses = self.raw.get("responses")
        return [str(k) for k in responses] if isinstance(responses, Mapping) else []

    def response_for(self, status: int) -> tuple[str, Mapping[str, Any], str] | None:
        """The Response Object for `status`: exact code, then range (`4XX`), then `default`."""
        responses = self.raw.get("responses")
        if not isinstance(responses, Mapping):
            return None
        by_key = {str(k).upper(): str(k) for k in responses}
        for candidate in (str(status), f"{status // 100}XX", "DEFAULT"):
            if candidate in by_key:
                key = by_key[candidate]
                response, pointer = self.document.resolve(
                    responses[key], f"{self.pointer}{_pointer('responses', key)}"
                )
                if isinstance(response, Mapping):
                    return key, response, pointer
        return None

    # -- validation ----------------------------------------------------------------------------------

    def validate_response(
        self,
        status: int,
        content_type: str | None,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> list[str]:
        """What is wrong with this answer, as readable lines; [] when it fits the document.

        `headers`, when given, are checked for the response headers declared `required`.
        """
        found = self.response_for(status)
        if found is None:
            declared = ", ".join(self.declared_statuses()) or "none"
            return [f"{status}: status not declared for {self} (declared: {declared})"]
        _, response, pointer = found
        problems: list[str] = []
        if headers is not None:
            present = {name.lower() for name in headers}
            for name, raw in _mapping(response.get("headers")).items():
                header, _ = self.document.resolve(raw, f"{pointer}{_pointer('headers', name)}")
                required = isinstance(header, Mapping) and header.get("required") is True
                if required and name.lower() not in present:
                    problems.append(f"{status}: header {name} is required")
        content = response.get("content")
        if not isinstance(content, Mapping) or not content:
            if body and status in (204, 304):
                problems.append(f"{status}: a {status} answer must have no body ({len(body)} bytes)")
            return problems  # no content declared: a body, if any, is not judged
        return problems + self._check_body(str(status), content, pointer + "/content", content_type, body)

    def validate_request(
        self,
        content_type: str | None = None,
        body: bytes | None = None,
        *,
        query: Mapping[str, str | Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
    ) -> list[str]:
        """What is wrong with a request to this operation; [] when it fits the document.

        Checked: the body (required, media type, schema), the query parameters (required ones present,
        values against their schemas; no `query` = an empty query string), the path parameters bound by
        :meth:`OpenApiDocument.operation`, and header and cookie parameters only when `headers` /
        `cookies` are given (authentication is usually someone else's business).
        """
        problems: list[str] = []
        given: dict[str, Mapping[str, Sequence[str]] | None] = {
            "query": {k: [v] if isinstance(v, str) else list(v) for k, v in (query or {}).items()},
            "path": {k: [v] for k, v in self.path_params.items()} if self.path_params else None,
            "header": {k.lower(): [v] for k, v in headers.items()} if headers is not None else None,
            "cookie": {k: [v] for k, v in cookies.items()} if cookies is not None else None,
        }
        for param, pointer in self.parameters():
            location, name = str(param.get("in")), str(param.get("name"))
            values_by_name = given.get(location)
            if values_by_name is None:
                continue
            values = values_by_name.get(name.lower() if location == "header" else name)
            if not values:
                if param.get("required") is True:
                    problems.append(f"{location} parameter {name!r} is required")
                continue
            schema = param.get("schema")
            if not isinstance(schema, Mapping):
                continue
            resolved, _ = self.document.resolve(schema, pointer + "/schema")
            if isinstance(resolved, Mapping) and resolved.get("type") == "array":
                instance: Any = [_coerce(v, resolved.get("items")) for v in values]
            else:
                instance = _coerce(values[0], resolved)
            for line in self.document.schema_problems(pointer + "/schema", instance, variant="request"):
                problems.append(f"{location} parameter {name!r}: {line.removeprefix('$: ')}")
        problems += self._check_request_body(content_type, body)
        return problems

    def _check_request_body(self, content_type: str | None, body: bytes | None) -> list[str]:
        found = self.request_body()
        if found is None:
            return ["request: the operation declares no request body"] if body else []
        request_body, pointer = found
        if not body:
            return ["request: a body is required"] if request_body.get("required") is True else []
        content = request_body.get("content")
        if not isinstance(content, Mapping) or not content:
            return []
        return self._check_body("request", content, pointer + "/content", content_type, body)

    def _check_body(
        self, label: str, content: Mapping[str, Any], pointer: str, content_type: str | None, body: bytes
    ) -> list[str]:
        """Media type, JSON syntax and schema of a body against a `content` map."""
        variant: Variant = "request" if label == "request" else "response"
        declared = ", ".join(content)
        if not body:
            if any(isinstance(m, Mapping) and _meaningful(m.get("schema")) for m in content.values()):
                return [f"{label}: empty body (declared: {declared})"]
            return []
        actual = _media_type(content_type)
        if not actual:
            if "*/*" in {_media_type(k) for k in content}:
                return []  # anything goes, and without a media type the body cannot be judged further
            return [f"{label}: no Content-Type (declared: {declared})"]
        key = _match_media(content, actual)
        if key is None:
            return [f"{label} {actual}: media type not declared (declared: {declared})"]
        media = content[key]
        schema = media.get("schema") if isinstance(media, Mapping) else None
        if not (_is_json(_media_type(key)) or (_meaningful(schema) and _is_json(actual))):
            return []  # not JSON: nothing more we can judge
        try:
            instance = _parse_json(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return [f"{label} {actual}: body is not valid JSON ({exc})"]
        if not _meaningful(schema):
            return []
        schema_pointer = f"{pointer}{_pointer(key)}/schema"
        return [
            f"{label} {actual}: {line}"
            for line in self.document.schema_problems(schema_pointer, instance, variant=variant)
        ]


# -- loading -----------------------------------------------------------------------------------------


def _check_shape(data: Any, source: str) -> None:
    if not isinstance(data, Mapping):
        raise OpenApiError(f"{source}: an OpenAPI document is a JSON object")
    version = data.get("openapi")
    if not isinstance(version, str) or not re.fullmatch(r"3\.0\.[0-9]+", version):
        raise OpenApiError(f"{source}: not an OpenAPI 3.0 document (openapi = {version!r})")
    if not isinstance(data.get("paths"), Mapping):
        raise OpenApiError(f"{source}: `paths` is missing or not an object")


def load_document(path: str | Path) -> OpenApiDocument:
    """An OpenAPI 3.0 document from a JSON file, as written."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise OpenApiError(f"cannot read the OpenAPI document {path}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise OpenApiError(f"{path} is not JSON ({exc}); OpenAPI documents are read as JSON") from None
    return OpenApiDocument(data, source=str(path))


def normative_path(name: NormativeName) -> Path:
    return project_root() / "swagger" / f"{name}.json"


def load_normative(name: NormativeName) -> OpenApiDocument:
    """One of our own documents in `swagger/` beside the package (like `scenarios/`)."""
    if name not in NORMATIVE_NAMES:
        raise OpenApiError(f"no normative document {name!r}: choose one of {', '.join(NORMATIVE_NAMES)}")
    path = normative_path(name)
    if not path.is_file():
        raise OpenApiError(f"{path} not found: {REINSTALL_HINT}")
    return load_document(path)


def baseline_path(name: BaselineName = BASELINE_NAME) -> Path:
    return project_root() / "swagger" / f"{name}.json"


def load_baseline(name: BaselineName = BASELINE_NAME) -> OpenApiDocument:
    """What an upstream document states, written by the project (``swagger/api-conformite-baseline.json``;
    ``swagger/api-psc-baseline.json`` for the API PSC): the contract of the mandatory contract checks
    when the campaign is not given the upstream file. It holds the same facts as :func:`baseline_of`
    applied to the upstream file (a test keeps them equal), without shipping ANS's file."""
    path = baseline_path(name)
    if not path.is_file():
        raise OpenApiError(f"{path} not found: {REINSTALL_HINT}")
    return load_document(path)


def load_upstream(path: str | Path, companions: Iterable[OpenApiDocument] = ()) -> OpenApiDocument:
    """An upstream (ANS) document, loaded unchanged, with a warning for each known defect it has.

    `companions` are the other documents of the trust space (e.g. the API Conformité when loading the API
    PSC): property names that differ only in case between them are reported too (`clientId`/`clientID`).
    Tolerance: a path-level `security` is ignored, and a bare `/send` also matches `/send/...`.
    """
    document = load_document(path)
    warnings = find_defects(document.data)
    for other in companions:
        warnings += find_casing_conflicts(document, other)
    prefix = [w.where.removeprefix("paths.") for w in warnings if w.code == "send-without-route"]
    return OpenApiDocument(document.data, source=document.source, warnings=warnings, prefix_paths=prefix)


# -- the baseline: the upstream document read leniently ----------------------------------------------

# Known defects whose literal reading would condemn what every proxy does; `baseline_of` loosens them.
TOLERATED_DEFECTS: Final = {
    "path-level-security": "the `security` of the /send path item is dropped (the operations carry theirs)",
    "send-without-route": "/send also matches /send/<api>/<endpoint>",
    "traces-not-array": "the 200 of GET /traces is not typed (the document says object, proxies answer "
    "an array)",
    "error-metadata-type": "metadata.nationalId and metadata.clientId of an error descriptor are not typed "
    "(the document says object, proxies echo the request's values)",
}


def baseline_of(upstream: OpenApiDocument) -> OpenApiDocument:
    """The upstream document as the mandatory contract checks read it: what it states, with each of its
    known defects (its `warnings`, see :data:`TOLERATED_DEFECTS`) read leniently, and every optional
    property (the document marks none required) allowed to be null, as serializers write an absent
    value. The document itself (`upstream.data`) is left unchanged."""
    data: dict[str, Any] = copy.deepcopy(dict(upstream.data))
    codes = {w.code for w in upstream.warnings}
    paths = _mapping(data.get("paths"))
    if "path-level-security" in codes:
        for item in paths.values():
            if isinstance(item, dict):
                item.pop("security", None)
    if "traces-not-array" in codes:
        traces = _operation(data, "get", "/traces")
        ok = _resolved(data, _mapping(traces.get("responses") if traces else None).get("200"))
        for media in _mapping(_mapping(ok).get("content")).values():
            if isinstance(media, dict):
                media["schema"] = {}
    if "error-metadata-type" in codes:
        for _, _, op in _all_operations(data):
            for response in _mapping(op.get("responses")).values():
                for _, schema in _media_schemas(data, response):
                    metadata = _resolved(data, _mapping(schema.get("properties")).get("metadata"))
                    props = metadata.get("properties") if isinstance(metadata, dict) else None
                    if isinstance(props, dict):
                        for name in props:
                            props[name] = {}
    _optional_properties_nullable(data)
    tolerated = sorted(codes & TOLERATED_DEFECTS.keys())
    return OpenApiDocument(
        data,
        source=f"{upstream.source} (read leniently: {', '.join(tolerated) or 'no known defect found'})",
        warnings=upstream.warnings,
        prefix_paths=upstream.prefix_paths,
    )


def _optional_properties_nullable(node: Any) -> None:
    """`nullable: true` on every typed property that its object schema does not require."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            required = set(_list(node.get("required")))
            for name, sub in props.items():
                if name not in required and isinstance(sub, dict) and "type" in sub and "$ref" not in sub:
                    sub["nullable"] = True
        for value in node.values():
            _optional_properties_nullable(value)
    elif isinstance(node, list):
        for value in node:
            _optional_properties_nullable(value)


# -- known defects -----------------------------------------------------------------------------------


def _mapping(node: Any) -> Mapping[str, Any]:
    return node if isinstance(node, Mapping) else {}


def _list(node: Any) -> list[Any]:
    return node if isinstance(node, list) else []


def _resolved(data: Mapping[str, Any], node: Any) -> Any:
    seen: set[str] = set()
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
        target = unquote(node["$ref"][1:])
        if target in seen:
            return None
        seen.add(target)
        try:
            node = _lookup(data, target)
        except KeyError:
            return None
    return node


def _operation(data: Mapping[str, Any], method: str, template: str) -> Mapping[str, Any] | None:
    item = _resolved(data, _mapping(data.get("paths")).get(template))
    op = item.get(method) if isinstance(item, Mapping) else None
    return op if isinstance(op, Mapping) else None


def _media_schemas(data: Mapping[str, Any], holder: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """(media type, resolved schema) of a Response or Request Body Object."""
    holder = _resolved(data, holder)
    content = holder.get("content") if isinstance(holder, Mapping) else None
    out = []
    for media, obj in content.items() if isinstance(content, Mapping) else ():
        schema = _resolved(data, obj.get("schema")) if isinstance(obj, Mapping) else None
        if isinstance(schema, Mapping):
            out.append((str(media), schema))
    return out


def _all_operations(data: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for template, item in _mapping(data.get("paths")).items():
        item = _resolved(data, item)
        for method in HTTP_METHODS:
            if isinstance(item, Mapping) and isinstance(item.get(method), Mapping):
                yield method.upper(), str(template), item[method]


def _servers(data: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(where, level, server) for root, path-level and operation-level servers."""
    for server in _list(data.get("servers")):
        yield "servers", "root", server
    for template, item in _mapping(data.get("paths")).items():
        if isinstance(item, Mapping):
            for server in _list(item.get("servers")):
                yield f"paths.{template}", "path", server
    for method, template, op in _all_operations(data):
        for server in _list(op.get("servers")):
            yield f"{method} {template}", "operation", server


def find_defects(data: Mapping[str, Any]) -> list[DocumentWarning]:
    """The known defects of the upstream documents, found by looking at `data` (never assumed)."""
    found: list[DocumentWarning] = []

    def warn(code: str, where: str, message: str) -> None:
        found.append(DocumentWarning(code, where, message))

    paths = _mapping(data.get("paths"))
    for template, item in paths.items():
        if isinstance(item, Mapping) and "security" in item:
            warn(
                "path-level-security",
                f"paths.{template}",
                "`security` on a path item is not OpenAPI 3.0 (allowed on operations and the document only); "
                "ignored, the operations' own `security` applies",
            )
    if "/send" in paths and not any(t.startswith("/send/") and "{" in t for t in paths):
        warn(
            "send-without-route",
            "paths./send",
            "/send is declared without {api}/{endpoint}, but proxies route /send/<api>/<endpoint>; "
            "/send is matched as a prefix",
        )
    relays = [op for m, t, op in _all_operations(data) if t == "/send" or t.startswith("/send/")]
    if relays and all(
        not any(str(k).upper() in ("2XX", "4XX", "DEFAULT") for k in _mapping(op.get("responses")))
        for op in relays
    ):
        warn(
            "send-relayed-statuses",
            "paths./send",
            "the send operations declare no 2XX/4XX range for the API's relayed answers: a relayed status "
            "they do not list (e.g. 201, 403) is judged by the project's document only (warning level)",
        )
    traces = _operation(data, "get", "/traces")
    if traces is not None:
        for media, schema in _media_schemas(data, _mapping(traces.get("responses")).get("200")):
            if schema.get("type") != "array":
                warn(
                    "traces-not-array",
                    "GET /traces",
                    f"200 {media} is typed {schema.get('type', 'untyped')!r}, "
                    "but proxies answer a JSON array of trace records: left untyped by the mandatory checks, "
                    "the records are judged by the project's Trace schema (warning level)",
                )
    connect = _operation(data, "post", "/connect")
    if connect is not None:
        _connect_defects(data, connect, warn)
    for method, template, op in _all_operations(data):
        for status, response in _mapping(op.get("responses")).items():
            for media, schema in _media_schemas(data, response):
                metadata = _resolved(data, schema.get("properties", {}).get("metadata"))
                props = metadata.get("properties") if isinstance(metadata, Mapping) else None
                wrong = [
                    name
                    for name, raw in _mapping(props).items()
                    if _mapping(_resolved(data, raw)).get("type") not in (None, "string")
                ]
                if wrong:
                    warn(
                        "error-metadata-type",
                        f"{method} {template}",
                        f"{status} {media}: metadata.{', metadata.'.join(wrong)} typed as non-string, "
                        "but proxies echo the identifiers of the request: left untyped by the mandatory "
                        "checks",
                    )
    schemes = _mapping(_mapping(data.get("components")).get("securitySchemes"))
    for name, scheme in schemes.items() if isinstance(schemes, Mapping) else ():
        url = _mapping(scheme).get("openIdConnectUrl")
        if (
            _mapping(scheme).get("type") == "openIdConnect"
            and isinstance(url, str)
            and "/.well-known/" not in url
        ):
            warn(
                "openid-connect-url",
                f"components.securitySchemes.{name}",
                f"openIdConnectUrl {url!r} is not a discovery document "
                "(/.well-known/openid-configuration); it looks like an authorization endpoint",
            )
    templated, localhost = set(), []
    for where, level, server in _servers(data):
        url = server.get("url") if isinstance(server, Mapping) else None
        if not isinstance(url, str):
            continue
        if "${" in url and url not in templated:
            templated.add(url)
            warn(
                "server-url-variable",
                where,
                f"server URL {url!r} uses ${{…}}; OpenAPI server variables are written {{name}}, "
                "so tools never substitute it",
            )
        if level == "operation" and re.match(r"https?://(localhost|127\.0\.0\.1)[:/]", url):
            localhost.append(where)
    if localhost:
        warn(
            "operation-servers-localhost",
            "operations",
            f"{len(localhost)} operation(s) override the servers with a localhost URL (a mock tool's "
            f"leftover): {', '.join(localhost)}",
        )
    found += find_casing_conflicts(data, data)
    return found


def _connect_defects(data: Mapping[str, Any], connect: Mapping[str, Any], warn: Any) -> None:
    for media, schema in _media_schemas(data, connect.get("requestBody")):
        required = _list(schema.get("required"))
        missing = [f for f in CONNECT_FIELDS if f not in required]
        if missing:
            warn(
                "connect-fields-not-required",
                "POST /connect",
                f"request {media}: {', '.join(missing)} not required; the project's document requires "
                "them (a proxy that accepts a connection without them gets a warning)",
            )
        props = _mapping(schema.get("properties"))
        channel = _resolved(data, props.get("channel"))
        if isinstance(channel, Mapping) and "enum" not in channel:
            warn(
                "connect-channel-not-enumerated",
                "POST /connect",
                f"request {media}: channel has no enum (its description says CARD or MOBILE); the "
                "project's document enumerates them (warning level)",
            )
        binding = _resolved(data, props.get("bindingMessage"))
        if isinstance(binding, Mapping) and "pattern" not in binding:
            warn(
                "connect-binding-message-unconstrained",
                "POST /connect",
                f"request {media}: bindingMessage has no pattern (its description says two digits, "
                "00-99); the project's document has the pattern ^[0-9]{2}$ (warning level)",
            )
    responses = _mapping(connect.get("responses"))
    if not _media_schemas(data, responses.get("401")):
        warn(
            "connect-401-undeclared",
            "POST /connect",
            "no 401 declared, which proxies answer when PSC refuses the authentication: judged by the "
            "project's document only (warning level)",
        )


def _property_names(data: Mapping[str, Any]) -> dict[str, set[str]]:
    """Every property name of every schema in the document → where it appears (schema names or paths)."""
    names: dict[str, set[str]] = {}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, Mapping):
            props = node.get("properties")
            if isinstance(props, Mapping):
                for name in props:
                    names.setdefault(str(name), set()).add(where)
            for value in node.values():
                walk(value, where)
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    schemas = _mapping(_mapping(data.get("components")).get("schemas"))
    for name, schema in schemas.items() if isinstance(schemas, Mapping) else ():
        walk(schema, str(name))
    for method, template, op in _all_operations(data):
        walk(op, f"{method} {template}")
    return names


def find_casing_conflicts(
    first: OpenApiDocument | Mapping[str, Any], second: OpenApiDocument | Mapping[str, Any]
) -> list[DocumentWarning]:
    """Property names spelled with different case in two documents (or within one): `clientId` in the API
    Conformité vs `clientID` in the API PSC. A proxy maps one to the other; a typo'd mapping is a bug."""
    a = first.data if isinstance(first, OpenApiDocument) else first
    b = second.data if isinstance(second, OpenApiDocument) else second
    names_a, names_b = _property_names(a), _property_names(b)
    title_b = str(_mapping(b.get("info")).get("title", "the other document"))
    found, seen = [], set()
    for name, places in sorted(names_a.items()):
        for other, other_places in sorted(names_b.items()):
            pair = tuple(sorted((name, other)))
            if name == other or name.lower() != other.lower() or pair in seen:
                continue
            seen.add(pair)
            inside = a is b
            found.append(
                DocumentWarning(
                    "property-casing",
                    ", ".join(sorted(places)),
                    f"property {name!r} differs only in case from {other!r} "
                    + (f"({', '.join(sorted(other_places))})" if inside else f"in {title_b!r}")
                    + ": the same identifier under two spellings",
                )
            )
    return found


__all__ = [
    "API_PSC_BASELINE_NAME",
    "BASELINE_NAME",
    "FORMAT_CHECKER",
    "NORMATIVE_NAMES",
    "TOLERATED_DEFECTS",
    "BaselineName",
    "DocumentWarning",
    "NormativeName",
    "OpenApiDocument",
    "OpenApiError",
    "Operation",
    "baseline_of",
    "baseline_path",
    "find_casing_conflicts",
    "find_defects",
    "load_baseline",
    "load_document",
    "load_normative",
    "load_upstream",
    "normative_path",
]
