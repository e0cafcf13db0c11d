"""The JSON Schema of campaign.toml: it refuses exactly what the loader refuses, and every example passes.

The schema is what a vendor's editor checks the file with, and the loader's first step: if the two
disagreed, a file the editor finds clean would be refused at `run`, or a mistake would reach the
loader's own checks with nobody having explained it.
"""

from __future__ import annotations

import ast
import fnmatch
import itertools
import re
import shlex
import textwrap
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import conformance
from conformance.config import (
    CONFIG_SCHEMA_FILE,
    DECLARED_KEYS,
    DEFAULT_UPSTREAM_TIMEOUT_S,
    MAX_REPORTED_ERRORS,
    Config,
    Timeouts,
    _build_config,  # the loader's own checks alone, to compare them with the schema
    check_against_schema,
    config_schema,
    load_config,
    parse_config,
    to_document,
)
from conformance.counterparts.settings import PscTimings
from conformance.errors import UsageError

REPOSITORY = Path(__file__).resolve().parents[2]
TABLES = frozenset(config_schema()["properties"])
URL = "https://127.0.0.1:8443"

# Accepted by the schema and by the loader's own checks.
GOOD = [
    "",
    "[sut]\n[sut.declared]\n[campaign]\n[timeouts]\n[counterparts]\n[counterparts.timings]\n",
    f"[sut]\nbase_url = '{URL}/'\nstart = ['./proxy', '--port', '8443']\nstartup_timeout_s = 0.5\n",
    f"[sut]\nrole = 'consumer'\nbase_url = '{URL}'\nstart = \"sh -c 'echo \\\"a b\\\"' \\\\x\"\n",
    "[sut]\nstart = ''\n",  # an empty command starts nothing: no URL needed
    '[sut]\nstart = " \\t\\r\\n"\n',  # whitespace alone: nothing to start
    "[sut]\nstart = []\n",
    "[sut]\nrole = 'provider'\n",  # the embedded reference provider
    "[sut]\nrole = 'provider'\napi_base_url = 'https://h/api'\nstart = './provider'\n",
    "[sut]\nrole = 'provider'\napi_base_url = 'https://h/api'\ntoken_endpoint = 'https://h/token'\n",
    "[sut]\nbase_url = 'HTTPS://Proxy.example'\n",
    "[sut]\nbase_url = 'https://[::1]:8443/p?q=1#f'\n",
    "[sut]\nbase_url = 'https://user:pw@host:'\n",
    "[sut]\nbase_url = 'https://a@b@host'\n",
    "[sut.declared]\nidle_timeout_s = 4\nsession_timeout_s = 60.5\nupstream_timeout_s = 1e-3\n",
    "[campaign]\nlang = 'en'\noutput = 'out'\npki_dir = 'pki'\nsigning_key = 'k.pem'\n",
    "[counterparts]\npsc_port = 0\napi_as_port = 0\napi_port = 0\nhost = '::1'\napi_token_ttl_s = 60\n",
    "[counterparts]\npsc_port = 65535\n",
    "[counterparts.timings]\nciba_interval_s = 0.2\nciba_expires_in_s = 30\npoll_tolerance_s = 1\n",
    "[timeouts]\nconnect_s = 1\nread_s = 2.5\nscenario_s = 3\ncampaign_s = 4\n",
    "sut = { name = 'inline tables are tables' }\n",
]

# Refused by the schema and by the loader's own checks.
BAD = [
    "[suut]\n",
    "lang = 'en'\n",
    "[sut]\nbase_ur = 'https://x'\n",
    "[sut.declared]\nidle = 3\n",
    "[campaign]\npki = 'pki'\n",
    "[timeouts]\nread = 1\n",
    "[counterparts]\nport = 1\n",
    "[counterparts.timings]\nciba_interval = 1\n",
    "sut = 3\n",
    "[sut]\ndeclared = 3\n",
    "counterparts = []\n",
    "[counterparts]\ntimings = 'fast'\n",
    "[sut]\nrole = 'proxy'\n",
    "[sut]\nrole = 3\n",
    "[sut]\nname = 3\n",
    "[sut]\nca_file = true\n",
    "[campaign]\nlang = 'de'\n",
    "[campaign]\noutput = 2024-01-01\n",
    "[sut]\nbase_url = 'http://127.0.0.1:80'\n",
    "[sut]\nbase_url = 'ftp://h'\n",
    "[sut]\nbase_url = 'https:h'\n",
    "[sut]\nbase_url = 'https://'\n",
    "[sut]\nbase_url = 'https://:8443'\n",
    "[sut]\nbase_url = 'https://user@'\n",
    "[sut]\nbase_url = 'https:///path'\n",
    "[sut]\nstart = './proxy'\n",
    "[sut]\nstart = ['./proxy']\n",
    '[sut]\nstart = [""]\n',
    "[sut]\nstart = '\"\"'\n",  # one empty argument is still a command
    "[sut]\nrole = 'provider'\nstart = './provider'\n",
    "[sut]\nrole = 'provider'\ntoken_endpoint = 'https://h/token'\nstart = './provider'\n",
    f"[sut]\nbase_url = '{URL}'\nstart = 3\n",
    f"[sut]\nbase_url = '{URL}'\nstart = ['./proxy', 8443]\n",
    f"[sut]\nrole = 'provider'\nbase_url = '{URL}'\n",
    "[sut]\nrole = 'provider'\ntoken_endpoint = 'https://h/token'\n",
    "[sut]\ntoken_endpoint = 'https://h/token'\n",
    "[sut]\napi_base_url = 'https://h/api'\n",
    "[sut]\nstartup_timeout_s = 0\n",
    "[sut.declared]\nidle_timeout_s = -1\n",
    "[timeouts]\nread_s = 'ten'\n",
    "[timeouts]\nread_s = true\n",
    "[counterparts]\napi_token_ttl_s = 0\n",
    "[counterparts.timings]\nciba_interval_s = 0\n",
    "[counterparts]\npsc_port = 70000\n",
    "[counterparts]\npsc_port = -1\n",
    "[counterparts]\npsc_port = '9443'\n",
    "[counterparts]\npsc_port = 9443.0\n",  # TOML tells an integer from a float; so do both
    "[counterparts]\npsc_port = true\n",
    "[counterparts]\nhost = 127\n",
]

# Refused by the loader's own checks only: a JSON Schema cannot compare two values.
LOADER_ONLY = [
    "[counterparts]\npsc_port = 9444\n",  # the default api_as_port
    "[counterparts]\npsc_port = 1\napi_as_port = 2\napi_port = 1\n",
]

# Refused by the schema only, on purpose: the loader's own checks let these through to fail later (a
# space before the scheme, a port that is not a number) or stop on a Python exception, not a message.
SCHEMA_ONLY = [
    "[sut]\nbase_url = ' https://h'\n",
    "[sut]\nbase_url = 'https://h:port'\n",
    "[sut]\nbase_url = 'https://[zz]'\n",
    "[sut]\nbase_url = 'https://[::1'\n",
    "[sut]\nbase_url = 'https://h]'\n",
    f"[sut]\nbase_url = '{URL}'\nstart = \"sh -c 'echo\"\n",
    f"[sut]\nbase_url = '{URL}'\nstart = './proxy \\'\n",  # a backslash escaping nothing
]


def schema_accepts(data: Mapping[str, Any]) -> bool:
    """The schema step of the loader."""
    try:
        return not check_against_schema(data)
    except UsageError:
        return False


def checks_accept(data: Mapping[str, Any]) -> bool:
    """The loader's own checks, without the schema step."""
    try:
        _build_config(data, None)
    except UsageError:
        return False
    return True


def only_the_loader_can_refuse(data: Mapping[str, Any]) -> bool:
    """Ports that must differ: a JSON Schema cannot compare two values."""
    try:
        _build_config(data, None)
    except UsageError as refused:
        return "must differ" in str(refused) and schema_accepts(data)
    return False


def editor_accepts(data: Mapping[str, Any]) -> bool:
    """The shipped file with a plain validator, as an editor would use it: Draft 2020-12, and Draft 7 for
    editors whose validator is older (Taplo's); the schema keeps to keywords both read alike."""
    verdicts = {
        validator(config_schema()).is_valid(data)
        for validator in (jsonschema.Draft202012Validator, jsonschema.Draft7Validator)
    }
    assert len(verdicts) == 1, "Draft 7 and Draft 2020-12 read the schema differently"
    return verdicts.pop()


@pytest.mark.parametrize("text", GOOD)
def test_good_inputs_pass_everywhere(text: str) -> None:
    data = tomllib.loads(text)
    assert schema_accepts(data) and checks_accept(data) and editor_accepts(data)
    parse_config(data)


@pytest.mark.parametrize("text", BAD)
def test_bad_inputs_are_refused_by_both(text: str) -> None:
    data = tomllib.loads(text)
    assert not schema_accepts(data) and not checks_accept(data)
    with pytest.raises(UsageError):
        parse_config(data)
    if "9443.0" not in text:  # JSON has one number type: a plain validator takes 9443.0 for an integer
        assert not editor_accepts(data)


@pytest.mark.parametrize("text", LOADER_ONLY)
def test_what_only_the_loader_can_refuse(text: str) -> None:
    data = tomllib.loads(text)
    assert only_the_loader_can_refuse(data) and editor_accepts(data)
    with pytest.raises(UsageError, match="must differ"):
        parse_config(data)


@pytest.mark.parametrize("text", SCHEMA_ONLY)
def test_what_the_schema_refuses_beyond_the_checks(text: str) -> None:
    """If the loader's own checks come to refuse one of these, it belongs in BAD."""
    data = tomllib.loads(text)
    assert not schema_accepts(data) and not editor_accepts(data)
    try:
        own_verdict = checks_accept(data)
    except ValueError:  # urlsplit or shlex, raised through the checks
        own_verdict = True
    assert own_verdict
    with pytest.raises(UsageError):
        parse_config(data)


# -- every example configuration in the repository -----------------------------------------------------

TOML_BLOCK = re.compile(r"^(?P<indent>[ \t]*)```toml\n(?P<body>.*?)^(?P=indent)```", re.MULTILINE | re.DOTALL)


CAMPAIGN_TABLE = re.compile(rf"^\[(?:{'|'.join(TABLES)})[\].]", re.MULTILINE)
SKIPPED_FOLDERS = {"tests", "build", "dist", "reports", "node_modules"}


def is_campaign_file(data: Mapping[str, Any]) -> bool:
    return bool(data) and set(data) <= TABLES


def documented_examples() -> Iterator[tuple[str, dict[str, Any]]]:
    """The campaign files of the documentation and the repository's .toml files (an `init` template…)."""
    documents = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").rglob("*.md"))]
    for document in documents:
        text = document.read_text(encoding="utf-8")
        for number, block in enumerate(TOML_BLOCK.finditer(text), 1):
            where, body = f"{document.relative_to(REPOSITORY)} #{number}", textwrap.dedent(block["body"])
            if not CAMPAIGN_TABLE.search(body):
                continue  # another file's example (waivers, a reference SUT), possibly abridged
            yield where, tomllib.loads(body)
    folders = [
        path
        for path in REPOSITORY.iterdir()
        if path.is_dir() and path.name not in SKIPPED_FOLDERS and not path.name.startswith(".")
    ]
    for path in sorted(path for folder in folders for path in folder.rglob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        if is_campaign_file(data):
            yield str(path.relative_to(REPOSITORY)), data


def test_every_documented_example_is_accepted() -> None:
    examples = dict(documented_examples())
    assert len(examples) >= 5, sorted(examples)  # configuration.md, connecting-a-proxy/provider.md at least
    refused = {name: str(exc) for name, data in examples.items() if (exc := _refusal(data)) is not None}
    assert not refused
    used = {path for data in examples.values() for path in _leaf_paths(data)}
    assert {path for path, _ in _schema_leaves(config_schema())} <= used, "a key no example shows"


def _refusal(data: Mapping[str, Any]) -> UsageError | None:
    try:
        parse_config(data)
    except UsageError as exc:
        return exc
    return None if editor_accepts(data) else UsageError("refused by a plain Draft 2020-12 validator")


def test_every_configuration_written_by_a_test_gets_one_verdict() -> None:
    """The tests' own campaign files, good and bad, are judged alike by the schema and the checks."""
    found = dict(configurations_in_tests())
    assert len(found) >= 20, sorted(found)
    disagreements = {
        where: text
        for where, text in found.items()
        if schema_accepts(data := tomllib.loads(text)) != checks_accept(data)
        and not only_the_loader_can_refuse(data)
    }
    assert not disagreements


def configurations_in_tests() -> Iterator[tuple[str, str]]:
    """String literals of the test suite that are campaign files; an f-string's fields become numbers."""
    for path in sorted((REPOSITORY / "tests").rglob("*.py")):
        if path == Path(__file__).resolve():
            continue  # its tables are checked above, with the differences they document
        source = path.read_text(encoding="utf-8")
        if not any(f"[{table}" in source for table in TABLES):
            continue  # parsing every test module would take seconds
        for node in ast.walk(ast.parse(source)):
            text = _literal_text(node)
            if text is None or not CAMPAIGN_TABLE.search(text):
                continue
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                continue
            if is_campaign_file(data):
                yield f"{path.relative_to(REPOSITORY)}:{node.lineno}", text  # type: ignore[attr-defined]


def _literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        numbers = itertools.count(20001)
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else str(next(numbers)) for part in node.values
        )
    return None


# -- the schema and the configuration classes describe the same keys ------------------------------------


def _schema_leaves(
    schema: Mapping[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, child in schema.get("properties", {}).items():
        if child.get("type") == "object":
            yield from _schema_leaves(child, (*path, key))
        else:
            yield (*path, key), child


def _leaf_paths(data: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _leaf_paths(value, (*path, key))
        else:
            yield (*path, key)


DOCUMENT_NAMES = {"timings": "psc_timings"}  # the schema's key → the configuration's field


def test_schema_keys_and_defaults_are_the_loaders() -> None:
    """A key added to a configuration class, or a changed default, shows here until the schema follows."""
    schema = config_schema()
    document = to_document(Config())
    for table in TABLES:
        fields = set(document[table])
        keys = {DOCUMENT_NAMES.get(key, key) for key in schema["properties"][table]["properties"]}
        assert keys == fields, table
    assert set(schema["properties"]["timeouts"]["properties"]) == set(Timeouts.__dataclass_fields__)
    timings = schema["properties"]["counterparts"]["properties"]["timings"]["properties"]
    assert set(timings) == set(PscTimings.__dataclass_fields__)
    assert set(schema["properties"]["sut"]["properties"]["declared"]["properties"]) == set(DECLARED_KEYS)
    for path, leaf in _schema_leaves(schema):
        if path[:2] == ("sut", "declared"):
            expected = {"upstream_timeout_s": DEFAULT_UPSTREAM_TIMEOUT_S}.get(path[-1])
        else:
            expected = document
            for step in path:
                expected = expected[DOCUMENT_NAMES.get(step, step)]
        assert leaf.get("default") == expected, path


def test_schema_is_draft_2020_12_and_describes_every_key() -> None:
    schema = config_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft7Validator.check_schema(schema)

    def tables(node: Mapping[str, Any], name: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        yield name, node
        for key, child in node.get("properties", {}).items():
            if child.get("type") == "object":
                yield from tables(child, f"{name}.{key}".strip("."))

    for name, table in tables(schema, ""):
        assert table.get("additionalProperties") is False, name
        assert table.get("description"), name
    for path, leaf in _schema_leaves(schema):
        assert len(leaf.get("description", "")) > 10, path


def test_schema_ships_in_the_package() -> None:
    """The wheel carries what pyproject's package-data names; editors are pointed at the installed file."""
    installed = Path(conformance.__file__).with_name(CONFIG_SCHEMA_FILE)
    assert installed.is_file()
    pyproject = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["conformance"]
    assert any(fnmatch.fnmatch(CONFIG_SCHEMA_FILE, pattern) for pattern in patterns)


# -- the schema's command-line pattern is shlex's own rule -----------------------------------------------


def _start_patterns() -> tuple[str, str]:
    sut = config_schema()["properties"]["sut"]
    condition = sut["allOf"][0]["else"]["allOf"][0]["if"]["properties"]["start"]
    return sut["properties"]["start"]["pattern"], condition["pattern"]


def test_command_line_patterns_agree_with_shlex() -> None:
    """Every short string: a well-formed command line is one shlex splits, a command one it splits into
    at least one argument."""
    well_formed, not_blank = (re.compile(pattern) for pattern in _start_patterns())
    for length in range(6):
        for characters in itertools.product(" a'\"\\\n\t", repeat=length):
            line = "".join(characters)
            try:
                words: list[str] | None = shlex.split(line)
            except ValueError:
                words = None
            assert (well_formed.search(line) is not None) == (words is not None), repr(line)
            if words is not None:
                assert (not_blank.search(line) is not None) == bool(words), repr(line)


# -- messages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[sut]\nbase_ur = 'https://x'\n",
            r"\[sut\]: unknown key\(s\) base_ur; allowed: .*; did you mean base_url\?",
        ),
        ("[suut]\n", r"unknown table\(s\) \[suut\]; allowed: .*; did you mean \[sut\]\?"),
        ("[campaign]\npki = 'pki'\n", r"\[campaign\]: unknown key\(s\) pki; .*did you mean pki_dir\?"),
        (
            "[counterparts.timings]\nciba_interval = 1\n",
            r"\[counterparts.timings\]: unknown key\(s\) ciba_interval; .*did you mean ciba_interval_s\?",
        ),
        ("[sut]\nlang = 'en'\n", r"\[sut\]: unknown key\(s\) lang; .*did you mean \[campaign\] lang\?"),
        ("lang = 'en'\n", r"lang \(a key outside any table\); .*did you mean \[campaign\] lang\?"),
        (
            "[sut]\nnme = 'x'\nbase_ur = 'https://x'\n",
            r"unknown key\(s\) base_ur, nme; .*did you mean name for nme, base_url for base_ur\?",
        ),
        ("[sut]\nstartup_timeout_s = 'soon'\n", r"\[sut\] startup_timeout_s: expected a number, got 'soon'"),
        (
            "[sut]\nstartup_timeout_s = 0\n",
            r"\[sut\] startup_timeout_s: must be a positive number of seconds",
        ),
        (
            "[counterparts]\npsc_port = 9443.0\n",
            r"\[counterparts\] psc_port: expected an integer, got 9443.0",
        ),
        ("[counterparts]\napi_port = 65536\n", r"\[counterparts\] api_port: 65536 is not a TCP port"),
        ("[sut]\ndeclared = 5\n", r"\[sut.declared\] must be a table, got 5"),
        (f"[sut]\nbase_url = '{URL}'\nstart = ['a', 2]\n", r"\[sut\] start\[1\]: expected a string, got 2"),
        (f"[sut]\nbase_url = '{URL}'\nstart = \"sh -c 'x\"\n", r"\[sut\] start: .* a quote is left open"),
        (
            "[sut]\nbase_url = 'https://h:port'\n",
            r"\[sut\] base_url: 'https://h:port' must be an https:// URL",
        ),
        ("[sut]\nrole = 3\n", r"\[sut\] role: expected a string, got 3$"),  # not also "3 is not one of"
    ],
)
def test_messages_name_the_file_the_key_and_what_is_expected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message) as refused:
        load_config(path)
    assert str(refused.value).startswith(f"{path}: ")


def test_several_mistakes_are_reported_at_once_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text("[timeouts]\nread_s = 0\n[sut]\nnme = 'x'\nstartup_timeout_s = 'x'\n", encoding="utf-8")
    with pytest.raises(UsageError) as refused:
        load_config(path)
    lines = str(refused.value).splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == [
        "[timeouts] read_s",
        "[sut]",
        "[sut] startup_timeout_s",
    ]
    assert all(line.startswith(f"{path}: ") for line in lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sut]\nstart = './proxy'\n", r"\[sut\] start: needs base_url, so the harness knows"),
        ("[sut]\nrole = 'provider'\nstart = './p'\n", r"\[sut\] start: needs api_base_url"),
        ("[sut]\napi_base_url = 'https://h'\n", r'\[sut\] api_base_url: only for role = "provider"'),
        ("[sut]\nrole = 'provider'\nbase_url = 'https://h'\n", r"\[sut\] base_url: a provider is reached at"),
        ("[sut]\nrole = 'provider'\ntoken_endpoint = 'https://h'\n", r"token_endpoint: needs api_base_url"),
    ],
)
def test_rules_between_keys_keep_the_loaders_words(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_config(tomllib.loads(text))


def test_a_long_list_of_mistakes_is_cut_short() -> None:
    timeouts = {key: 0 for key in Timeouts.__dataclass_fields__}
    timings = {key: 0 for key in PscTimings.__dataclass_fields__}
    with pytest.raises(UsageError) as refused:
        parse_config({"timeouts": timeouts, "counterparts": {"timings": timings}})
    lines = str(refused.value).splitlines()
    shown = MAX_REPORTED_ERRORS - 1
    assert (
        len(lines) == MAX_REPORTED_ERRORS
        and lines[-1] == f"… and {len(timeouts) + len(timings) - shown} more"
    )
