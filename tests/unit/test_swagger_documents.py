"""The OpenAPI documents themselves: ours are structurally valid OpenAPI 3.0, the upstream ones load
unchanged with a warning for each of their known defects.

The structural check is written here, for the parts of the OpenAPI 3.0 object model the documents use,
rather than taken from openapi-spec-validator: the harness keeps its dependencies to jsonschema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from conformance.openapi import (
    HTTP_METHODS,
    NORMATIVE_NAMES,
    NormativeName,
    OpenApiDocument,
    baseline_path,
    find_casing_conflicts,
    find_defects,
    load_normative,
    load_upstream,
    normative_path,
)

UPSTREAM_DIR = Path(__file__).parents[2].parent / "shared" / "reference" / "swagger"
UPSTREAM_CONFORMITE = "API-Proxy-eSante.json"
UPSTREAM_PSC = "API-PSC-tests-de-conformite.json"

# -- a compact structural validator of OpenAPI 3.0 ---------------------------------------------------

EXT = re.compile(r"x-.+")
COMPONENT_KEY = re.compile(r"[a-zA-Z0-9.\-_]+")
STATUS_KEY = re.compile(r"[1-5](?:[0-9]{2}|XX)|default")
TEMPLATE_VARIABLE = re.compile(r"\{([^{}/]+)\}")

ROOT_KEYS = {"openapi", "info", "servers", "paths", "components", "security", "tags", "externalDocs"}
INFO_KEYS = {"title", "description", "termsOfService", "contact", "license", "version"}
PATH_ITEM_KEYS = {"$ref", "summary", "description", "servers", "parameters", *HTTP_METHODS}
OPERATION_KEYS = {
    "tags",
    "summary",
    "description",
    "externalDocs",
    "operationId",
    "parameters",
    "requestBody",
    "responses",
    "callbacks",
    "deprecated",
    "security",
    "servers",
}
PARAMETER_KEYS = {
    "name",
    "in",
    "description",
    "required",
    "deprecated",
    "allowEmptyValue",
    "style",
    "explode",
    "allowReserved",
    "schema",
    "example",
    "examples",
    "content",
}
HEADER_KEYS = PARAMETER_KEYS - {"name", "in"}
RESPONSE_KEYS = {"description", "headers", "content", "links"}
REQUEST_BODY_KEYS = {"description", "content", "required"}
MEDIA_KEYS = {"schema", "example", "examples", "encoding"}
COMPONENT_SECTIONS = {
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
}
SCHEMA_KEYS = {
    "title",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "type",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "items",
    "properties",
    "additionalProperties",
    "description",
    "format",
    "default",
    "nullable",
    "discriminator",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "example",
    "deprecated",
}
SCHEMA_TYPES = {"string", "number", "integer", "boolean", "array", "object"}
SECURITY_TYPES = {"apiKey", "http", "oauth2", "openIdConnect"}


class Structure:
    """Collects the structural problems of one document."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[str] = []

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def keys(self, node: Any, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> bool:
        if not isinstance(node, Mapping):
            self.problem(where, "must be an object")
            return False
        for key in node:
            if key not in allowed and not EXT.fullmatch(str(key)):
                self.problem(where, f"unexpected member {key!r}")
        for key in required:
            if key not in node:
                self.problem(where, f"missing required member {key!r}")
        return True

    def resolve(self, node: Any, where: str) -> Any:
        """A Reference Object's target (local only), or the node itself."""
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                self.problem(where, f"$ref {ref!r} is not a local reference")
                return None
            target: Any = self.data
            for raw in ref[2:].split("/"):
                segment = raw.replace("~1", "/").replace("~0", "~")
                if isinstance(target, Mapping) and segment in target:
                    target = target[segment]
                elif isinstance(target, list) and segment.isdigit() and int(segment) < len(target):
                    target = target[int(segment)]
                else:
                    self.problem(where, f"$ref {ref!r} resolves nowhere")
                    return None
            node = target
        return node

    # -- objects -------------------------------------------------------------------------------------

    def document(self) -> list[str]:
        data = self.data
        self.keys(data, ROOT_KEYS, "(root)", ("openapi", "info", "paths"))
        if not re.fullmatch(r"3\.0\.[0-9]+", str(data.get("openapi"))):
            self.problem("openapi", f"{data.get('openapi')!r} is not an OpenAPI 3.0 version")
        info: Any = data.get("info")
        if self.keys(info, INFO_KEYS, "info", ("title", "version")):
            for key in ("title", "version"):
                if not isinstance(info.get(key), str):
                    self.problem(f"info.{key}", "must be a string")
            if "license" in info:
                self.keys(info["license"], {"name", "url"}, "info.license", ("name",))
        self.servers(data.get("servers", []), "servers")
        components = data.get("components", {})
        if self.keys(components, COMPONENT_SECTIONS, "components"):
            self.components(components)
        self.security(data.get("security", []), "security")
        operation_ids: set[str] = set()
        paths = data.get("paths")
        if isinstance(paths, Mapping):
            for template, item in paths.items():
                self.path_item(str(template), item, operation_ids)
        else:
            self.problem("paths", "must be an object")
        self.all_refs(data, "")
        return self.problems

    def servers(self, servers: Any, where: str) -> None:
        if not isinstance(servers, list):
            self.problem(where, "must be an array")
            return
        for i, server in enumerate(servers):
            at = f"{where}[{i}]"
            if self.keys(server, {"url", "description", "variables"}, at, ("url",)):
                variables = server.get("variables", {})
                for name in TEMPLATE_VARIABLE.findall(str(server.get("url", ""))):
                    if name not in variables:
                        self.problem(at, f"url variable {{{name}}} is not declared")
                for name, variable in variables.items():
                    self.keys(
                        variable, {"enum", "default", "description"}, f"{at}.variables.{name}", ("default",)
                    )

    def components(self, components: Mapping[str, Any]) -> None:
        for section, entries in components.items():
            if not isinstance(entries, Mapping):
                self.problem(f"components.{section}", "must be an object")
                continue
            for name, entry in entries.items():
                at = f"components.{section}.{name}"
                if not COMPONENT_KEY.fullmatch(str(name)):
                    self.problem(at, "invalid component name")
                if section == "schemas":
                    self.schema(entry, at)
                elif section == "parameters":
                    self.parameter(entry, at)
                elif section == "responses":
                    self.response(entry, at)
                elif section == "requestBodies":
                    self.request_body(entry, at)
                elif section == "headers":
                    self.header(entry, at)
                elif section == "securitySchemes":
                    self.security_scheme(entry, at)

    def security_scheme(self, scheme: Any, where: str) -> None:
        allowed = {
            "type",
            "description",
            "name",
            "in",
            "scheme",
            "bearerFormat",
            "flows",
            "openIdConnectUrl",
        }
        if not self.keys(scheme, allowed, where, ("type",)):
            return
        kind = scheme.get("type")
        if kind not in SECURITY_TYPES:
            self.problem(where, f"type {kind!r} is not one of {sorted(SECURITY_TYPES)}")
        required = {"apiKey": ("name", "in"), "http": ("scheme",), "oauth2": ("flows",)}
        required["openIdConnect"] = ("openIdConnectUrl",)
        for key in required.get(str(kind), ()):
            if key not in scheme:
                self.problem(where, f"a {kind} scheme needs {key!r}")
        if kind == "apiKey" and scheme.get("in") not in ("query", "header", "cookie"):
            self.problem(where, f"apiKey `in` {scheme.get('in')!r} is not query, header or cookie")

    def security(self, requirements: Any, where: str) -> None:
        if not isinstance(requirements, list):
            self.problem(where, "must be an array of security requirements")
            return
        schemes = self.data.get("components", {}).get("securitySchemes", {})
        for requirement in requirements:
            if not isinstance(requirement, Mapping):
                self.problem(where, "a security requirement must be an object")
                continue
            for name, scopes in requirement.items():
                if name not in schemes:
                    self.problem(where, f"security scheme {name!r} is not declared")
                elif schemes[name].get("type") not in ("oauth2", "openIdConnect") and scopes != []:
                    self.problem(where, f"{name!r}: scopes must be empty for a {schemes[name].get('type')}")

    def path_item(self, template: str, item: Any, operation_ids: set[str]) -> None:
        at = f"paths.{template}"
        if not template.startswith("/"):
            self.problem(at, "a path must start with /")
        item = self.resolve(item, at)
        if not self.keys(item, PATH_ITEM_KEYS, at):
            return
        self.servers(item.get("servers", []), f"{at}.servers")
        shared = self.parameters(item.get("parameters", []), f"{at}.parameters")
        variables = set(TEMPLATE_VARIABLE.findall(template))
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op_at = f"{at}.{method}"
            operation = item[method]
            if not self.keys(operation, OPERATION_KEYS, op_at, ("responses",)):
                continue
            operation_id = operation.get("operationId")
            if operation_id is not None:
                if operation_id in operation_ids:
                    self.problem(op_at, f"operationId {operation_id!r} is not unique")
                operation_ids.add(operation_id)
            own = self.parameters(operation.get("parameters", []), f"{op_at}.parameters")
            declared = {name for (name, where) in {**shared, **own} if where == "path"}
            for name in sorted(variables - declared):
                self.problem(op_at, f"path variable {{{name}}} has no path parameter")
            for name in sorted(declared - variables):
                self.problem(op_at, f"path parameter {name!r} is not in the path template")
            if "requestBody" in operation:
                self.request_body(operation["requestBody"], f"{op_at}.requestBody")
            responses = operation.get("responses")
            if not isinstance(responses, Mapping) or not responses:
                self.problem(op_at, "an operation needs at least one response")
            else:
                for status, response in responses.items():
                    if not STATUS_KEY.fullmatch(str(status)):
                        self.problem(
                            f"{op_at}.responses", f"{status!r} is not a status code, range or default"
                        )
                    self.response(response, f"{op_at}.responses.{status}")
            self.security(operation.get("security", []), f"{op_at}.security")
            self.servers(operation.get("servers", []), f"{op_at}.servers")

    def parameters(self, params: Any, where: str) -> dict[tuple[str, str], Mapping[str, Any]]:
        found: dict[tuple[str, str], Mapping[str, Any]] = {}
        if not isinstance(params, list):
            self.problem(where, "must be an array")
            return found
        for i, raw in enumerate(params):
            param = self.resolve(raw, f"{where}[{i}]")
            if isinstance(param, Mapping):
                self.parameter(raw, f"{where}[{i}]")
                key = (str(param.get("name")), str(param.get("in")))
                if key in found:
                    self.problem(where, f"parameter {key[0]!r} in {key[1]} is declared twice")
                found[key] = param
        return found

    def parameter(self, raw: Any, where: str) -> None:
        param = self.resolve(raw, where)
        if not self.keys(param, PARAMETER_KEYS, where, ("name", "in")):
            return
        if param.get("in") not in ("query", "header", "path", "cookie"):
            self.problem(where, f"`in` {param.get('in')!r} is not query, header, path or cookie")
        if param.get("in") == "path" and param.get("required") is not True:
            self.problem(where, "a path parameter must be required: true")
        self.schema_or_content(param, where)

    def header(self, raw: Any, where: str) -> None:
        header = self.resolve(raw, where)
        if self.keys(header, HEADER_KEYS, where):
            self.schema_or_content(header, where)

    def schema_or_content(self, node: Mapping[str, Any], where: str) -> None:
        if ("schema" in node) == ("content" in node):
            self.problem(where, "exactly one of `schema` and `content` is needed")
        if "schema" in node:
            self.schema(node["schema"], f"{where}.schema")
        if "content" in node:
            self.content(node["content"], f"{where}.content")

    def request_body(self, raw: Any, where: str) -> None:
        body = self.resolve(raw, where)
        if self.keys(body, REQUEST_BODY_KEYS, where, ("content",)):
            self.content(body.get("content"), f"{where}.content")

    def response(self, raw: Any, where: str) -> None:
        response = self.resolve(raw, where)
        if not self.keys(response, RESPONSE_KEYS, where, ("description",)):
            return
        for name, header in response.get("headers", {}).items():
            self.header(header, f"{where}.headers.{name}")
        if "content" in response:
            self.content(response["content"], f"{where}.content")

    def content(self, content: Any, where: str) -> None:
        if not isinstance(content, Mapping) or not content:
            self.problem(where, "must be a non-empty map of media types")
            return
        for media, obj in content.items():
            if not re.fullmatch(r"[\w.+*-]+/[\w.+*-]+", str(media)):
                self.problem(where, f"{media!r} is not a media type")
            if self.keys(obj, MEDIA_KEYS, f"{where}.{media}") and "schema" in obj:
                self.schema(obj["schema"], f"{where}.{media}.schema")

    def schema(self, schema: Any, where: str) -> None:
        if isinstance(schema, Mapping) and "$ref" in schema:
            self.resolve(schema, where)
            return
        if not self.keys(schema, SCHEMA_KEYS, where):
            return
        kind = schema.get("type")
        if kind is not None and (not isinstance(kind, str) or kind not in SCHEMA_TYPES):
            self.problem(
                where, f"type {kind!r} is not an OpenAPI 3.0 type (one string of {sorted(SCHEMA_TYPES)})"
            )
        if kind == "array" and "items" not in schema:
            self.problem(where, "an array schema needs `items`")
        required = schema.get("required")
        if required is not None and (
            not isinstance(required, list)
            or not required
            or len(set(required)) != len(required)
            or not all(isinstance(r, str) for r in required)
        ):
            self.problem(where, "`required` must be a non-empty list of distinct strings")
        if "pattern" in schema:
            try:
                re.compile(schema["pattern"])
            except (re.error, TypeError) as exc:
                self.problem(where, f"pattern does not compile: {exc}")
        if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
            self.problem(where, "`enum` must be a non-empty array")
        discriminator = schema.get("discriminator")
        if discriminator is not None and self.keys(
            discriminator, {"propertyName", "mapping"}, f"{where}.discriminator", ("propertyName",)
        ):
            for value, target in discriminator.get("mapping", {}).items():
                self.resolve({"$ref": target}, f"{where}.discriminator.mapping.{value}")
        for name, sub in schema.get("properties", {}).items():
            self.schema(sub, f"{where}.properties.{name}")
        for key in ("items", "not"):
            if key in schema:
                self.schema(schema[key], f"{where}.{key}")
        if isinstance(schema.get("additionalProperties"), Mapping):
            self.schema(schema["additionalProperties"], f"{where}.additionalProperties")
        for key in ("allOf", "oneOf", "anyOf"):
            if key in schema:
                if not isinstance(schema[key], list) or not schema[key]:
                    self.problem(where, f"`{key}` must be a non-empty array")
                    continue
                for i, sub in enumerate(schema[key]):
                    self.schema(sub, f"{where}.{key}[{i}]")

    def all_refs(self, node: Any, where: str) -> None:
        """Every `$ref` anywhere in the document resolves."""
        if isinstance(node, Mapping):
            if isinstance(node.get("$ref"), str):
                self.resolve({"$ref": node["$ref"]}, where or "(root)")
            for key, value in node.items():
                self.all_refs(value, f"{where}.{key}" if where else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self.all_refs(value, f"{where}[{i}]")


def structural_problems(data: Mapping[str, Any]) -> list[str]:
    return Structure(data).document()


def _operations(data: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for template, item in data["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield method, template, item[method]


# -- our documents -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NORMATIVE_NAMES)
def test_normative_document_is_structurally_valid_openapi_30(name: NormativeName) -> None:
    data = json.loads(normative_path(name).read_text(encoding="utf-8"))
    assert data["openapi"] == "3.0.3"
    assert structural_problems(data) == []


def test_baseline_document_is_structurally_valid_openapi_30() -> None:
    """swagger/api-conformite-baseline.json: the project's statement of what the upstream document states."""
    data = json.loads(baseline_path().read_text(encoding="utf-8"))
    assert data["openapi"] == "3.0.3"
    assert structural_problems(data) == []


@pytest.mark.parametrize("name", NORMATIVE_NAMES)
def test_normative_document_has_none_of_the_upstream_defects(name: NormativeName) -> None:
    document = load_normative(name)
    assert isinstance(document, OpenApiDocument) and document.warnings == []
    assert [str(w) for w in find_defects(document.data)] == []


def test_security_only_on_operations_and_declared() -> None:
    data = load_normative("api-conformite").data
    assert all("security" not in item for item in data["paths"].values())
    secured = {(m, t) for m, t, op in _operations(data) if op.get("security") == [{"cookieAuth": []}]}
    assert ("delete", "/disconnect") in secured
    assert {m for m, t in secured if t == "/send/{api}/{endpoint}"} == {
        "get",
        "post",
        "put",
        "patch",
        "delete",
    }
    assert {(m, t) for m, t, op in _operations(data) if "security" not in op} == {
        ("post", "/connect"),
        ("get", "/traces"),
    }
    assert data["components"]["securitySchemes"]["cookieAuth"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "proxy_session_id",
        "description": data["components"]["securitySchemes"]["cookieAuth"]["description"],
    }


def test_api_psc_document_uses_bearer_and_says_rfc_8705() -> None:
    data = load_normative("api-psc").data
    scheme = data["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "RFC 8705" in scheme["description"]
    assert data["servers"][0]["url"].startswith("/")
    assert data["components"]["schemas"]["SessionData"]["required"] == [
        "nationalId",
        "clientID",
        "proxy_session_id",
        "session_state",
    ]


def test_documents_are_not_copies_of_upstream() -> None:
    if not UPSTREAM_DIR.is_dir():
        pytest.fail(f"upstream OpenAPI documents not found at {UPSTREAM_DIR} (../shared beside the clone)")
    ours = {normative_path(n).read_bytes() for n in NORMATIVE_NAMES}
    assert not ours & {p.read_bytes() for p in UPSTREAM_DIR.glob("*.json")}


def test_the_pair_keeps_the_wire_spelling_of_the_client_id() -> None:
    """`clientId` (API Conformité) vs `clientID` (API PSC) is what travels: reported, not 'fixed'."""
    conflicts = find_casing_conflicts(load_normative("api-conformite"), load_normative("api-psc"))
    assert [w.code for w in conflicts] == ["property-casing"]
    assert "'clientId'" in conflicts[0].message and "'clientID'" in conflicts[0].message


def test_structural_checker_catches_what_it_claims() -> None:
    """The checker is only worth something if it fails broken documents."""
    data = json.loads(normative_path("api-conformite").read_text(encoding="utf-8"))
    data["paths"]["/connect"]["post"]["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Nowhere"
    }
    data["paths"]["/traces"]["get"]["responses"] = {}
    data["paths"]["/send/{api}/{endpoint}"]["parameters"] = data["paths"]["/send/{api}/{endpoint}"][
        "parameters"
    ][1:]
    data["paths"]["/disconnect"]["security"] = [{"cookieAuth": []}]
    data["components"]["schemas"]["Session"]["type"] = ["object", "null"]
    problems = "\n".join(structural_problems(data))
    assert "'#/components/schemas/Nowhere' resolves nowhere" in problems
    assert "paths./traces.get: an operation needs at least one response" in problems
    assert "path variable {api} has no path parameter" in problems
    assert "paths./disconnect: unexpected member 'security'" in problems
    assert "components.schemas.Session: type ['object', 'null'] is not an OpenAPI 3.0 type" in problems


# -- the upstream documents --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream_dir() -> Path:
    if not UPSTREAM_DIR.is_dir():
        pytest.fail(
            f"upstream OpenAPI documents not found at {UPSTREAM_DIR}: the tests expect ../shared beside "
            "the clone (as in CI), with reference/swagger/ holding ANS's two files"
        )
    return UPSTREAM_DIR


def test_upstream_api_conformite_loads_unchanged_with_its_defects(upstream_dir: Path) -> None:
    path = upstream_dir / UPSTREAM_CONFORMITE
    document = load_upstream(path)
    assert document.data == json.loads(path.read_text(encoding="utf-8"))
    codes = [w.code for w in document.warnings]
    assert set(codes) == {
        "path-level-security",
        "send-without-route",
        "send-relayed-statuses",
        "traces-not-array",
        "connect-fields-not-required",
        "connect-channel-not-enumerated",
        "connect-binding-message-unconstrained",
        "connect-401-undeclared",
        "error-metadata-type",
        "operation-servers-localhost",
    }
    assert codes.count("error-metadata-type") == 2  # 400 and 404
    by_code = {w.code: w for w in document.warnings}
    assert by_code["path-level-security"].where == "paths./send"
    assert "'object'" in by_code["traces-not-array"].message
    assert "nationalId, bindingMessage, clientId, channel" in by_code["connect-fields-not-required"].message
    # the strict structural check fails exactly where the README says it does
    problems = structural_problems(document.data)
    assert problems == ["paths./send: unexpected member 'security'"]


def test_upstream_api_psc_loads_unchanged_with_its_defects(upstream_dir: Path) -> None:
    conformite = load_upstream(upstream_dir / UPSTREAM_CONFORMITE)
    path = upstream_dir / UPSTREAM_PSC
    alone = load_upstream(path)
    assert alone.data == json.loads(path.read_text(encoding="utf-8"))
    assert {w.code for w in alone.warnings} == {"openid-connect-url", "server-url-variable"}
    paired = load_upstream(path, companions=[conformite])
    casing = [w for w in paired.warnings if w.code == "property-casing"]
    assert len(casing) == 1 and "'clientID'" in casing[0].message and "'clientId'" in casing[0].message
    assert structural_problems(paired.data) == []


def test_upstream_send_is_matched_as_the_real_routing(upstream_dir: Path) -> None:
    document = load_upstream(upstream_dir / UPSTREAM_CONFORMITE)
    assert document.prefix_paths == frozenset({"/send"})
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        operation = document.operation(method, "/send/apipsc/signsessiondata")
        assert operation is not None and operation.template == "/send"
    assert document.operation("GET", "/sendx") is None
    assert document.operation("GET", "/send") is not None
    # the path-level `security` is ignored; each operation carries its own (GET /send has none upstream)
    post = document.operation("POST", "/send/apipsc/x")
    assert post is not None and post.security == [{"cookieAuth": []}]


def test_upstream_defects_are_found_by_inspection_not_assumed(upstream_dir: Path) -> None:
    """A fixed copy of the upstream file loses the warnings one by one."""
    data = json.loads((upstream_dir / UPSTREAM_CONFORMITE).read_text(encoding="utf-8"))
    del data["paths"]["/send"]["security"]
    data["paths"]["/traces"]["get"]["responses"]["200"]["content"]["*/*"]["schema"] = {
        "type": "array",
        "items": {},
    }
    data["components"]["schemas"]["connection"]["required"] = [
        "nationalId",
        "bindingMessage",
        "clientId",
        "channel",
    ]
    codes = {w.code for w in find_defects(data)}
    assert not codes & {"path-level-security", "traces-not-array", "connect-fields-not-required"}
    assert "send-without-route" in codes
