"""The CI recipes of docs/ci.md stay runnable: they parse, every `psc-conformance` command they run exists
with the options it uses, and each keeps the report as an artifact on failure and publishes junit.xml.

A vendor copies these files as they are; a renamed option would only show in their pipeline, weeks later.
PyYAML is not a dependency of the project, so the recipes are read by a small reader of the YAML subset
they use, which refuses everything else rather than guess.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from conformance.cli import build_parser
from conformance.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ci.md"
RECIPES = ROOT / "docs" / "ci"
GITLAB = RECIPES / "gitlab-ci.yml"
GITHUB = RECIPES / "github-actions.yml"
CAMPAIGN = RECIPES / "campaign.toml"
COMMAND = "psc-conformance"
MINIMUM_PYTHON = (3, 11)


# --- A reader of the YAML subset CI files use ---------------------------------------------------------


class YamlSubsetError(ValueError):
    """The text uses YAML this reader does not support, or is not YAML."""


_KEY = re.compile(
    r"""^(?P<key>[^\s'"#\-?:{}\[\],&*!|>%@`][^:#]*?|"[^"]*"|'[^']*')\s*:(?:\s+(?P<rest>.*))?$"""
)
_REFUSED_STARTS = ("{", "&", "*", "!", ">", "%", "@", "`", "|")


def _strip_comment(line: str) -> str:
    """The line without its comment: a `#` at the start or after a blank, outside a quoted scalar."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"" and (index == 0 or line[index - 1] in " [,:"):  # a quote opening a scalar
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index].rstrip()
    return line.rstrip()


class YamlSubset:
    """Block mappings and sequences, plain and quoted scalars (all kept as strings), flow sequences of
    scalars and literal block scalars (`|`, `|-`). Anchors, tags, flow mappings, folded or multi-line
    plain scalars, tabs in indentation and duplicate keys are refused."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.pos = 0

    def parse(self) -> Any:
        self._skip_blank()
        if self.pos == len(self.lines):
            return None
        value = self._block(self._indent())
        self._skip_blank()
        if self.pos != len(self.lines):
            raise self._error("unexpected indentation")
        return value

    def _error(self, message: str) -> YamlSubsetError:
        line = self.lines[self.pos] if self.pos < len(self.lines) else ""
        return YamlSubsetError(f"line {self.pos + 1}: {message}: {line.strip()!r}")

    def _skip_blank(self) -> None:
        while self.pos < len(self.lines) and not _strip_comment(self.lines[self.pos]).strip():
            self.pos += 1

    def _indent(self) -> int:
        line = self.lines[self.pos]
        indent = len(line) - len(line.lstrip(" "))
        if line[indent : indent + 1] == "\t":
            raise self._error("tab in indentation")
        return indent

    def _content(self) -> str:
        return _strip_comment(self.lines[self.pos]).strip()

    def _block(self, indent: int) -> Any:
        content = self._content()
        return self._sequence(indent) if content == "-" or content.startswith("- ") else self._mapping(indent)

    def _at(self, indent: int) -> bool:
        """Whether a line of this block (same indentation) comes next; deeper is an error."""
        self._skip_blank()
        if self.pos == len(self.lines) or self._indent() < indent:
            return False
        if self._indent() > indent:
            raise self._error("unexpected indentation")
        return True

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while self._at(indent):
            content = self._content()
            if not (content == "-" or content.startswith("- ")):
                break
            rest = content[1:].lstrip()
            if not rest:
                self.pos += 1
                items.append(self._nested(indent))
            elif _KEY.match(rest) or rest.startswith("- "):
                # `- key: value`: a mapping (or sequence) whose first line starts after the dash.
                column = indent + len(content) - len(rest)
                self.lines[self.pos] = (
                    " " * column + self.lines[self.pos].lstrip()[len(content) - len(rest) :]
                )
                items.append(self._block(column))
            else:
                items.append(self._value(rest, indent))
        return items

    def _mapping(self, indent: int) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        while self._at(indent):
            match = _KEY.match(self._content())
            if match is None:
                raise self._error("expected `key: value`")
            key = str(self._scalar(match["key"]))
            if key in mapping:
                raise self._error(f"duplicate key {key!r}")
            rest = match["rest"] or ""
            if rest:
                mapping[key] = self._value(rest, indent)
                continue
            self.pos += 1
            self._skip_blank()
            same_level_sequence = (
                self.pos < len(self.lines) and self._indent() == indent and self._content().startswith("-")
            )
            mapping[key] = self._sequence(indent) if same_level_sequence else self._nested(indent)
        return mapping

    def _nested(self, parent_indent: int) -> Any:
        self._skip_blank()
        if self.pos == len(self.lines) or self._indent() <= parent_indent:
            return None
        return self._block(self._indent())

    def _value(self, text: str, indent: int) -> Any:
        """The value written after `key:` or `-` on the current line, which it consumes."""
        if text in ("|", "|-"):
            return self._literal(indent, keep_final_newline=text == "|")
        self.pos += 1
        return self._scalar(text)

    def _literal(self, indent: int, *, keep_final_newline: bool) -> str:
        self.pos += 1
        body: list[str] = []
        block_indent = None
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.strip():
                line_indent = len(line) - len(line.lstrip(" "))
                if block_indent is None:
                    block_indent = line_indent
                if line_indent < block_indent or line_indent <= indent:
                    break
                body.append(line[block_indent:])
            else:
                body.append("")
            self.pos += 1
        while body and not body[-1]:
            body.pop()
        return "\n".join(body) + ("\n" if keep_final_newline and body else "")

    def _scalar(self, text: str) -> str | list[str]:
        if text.startswith('"'):
            end = re.match(r'"((?:[^"\\]|\\.)*)"$', text)
            if end is None:
                raise self._error("unterminated or trailing text after a double-quoted scalar")
            return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), end[1])
        if text.startswith("'"):
            end = re.match(r"'((?:[^']|'')*)'$", text)
            if end is None:
                raise self._error("unterminated or trailing text after a single-quoted scalar")
            return end[1].replace("''", "'")
        if text.startswith("["):
            if not text.endswith("]") or any(c in text[1:-1] for c in "[]{}"):
                raise self._error("only flat flow sequences are supported")
            items = [item.strip() for item in text[1:-1].split(",")]
            return [str(self._scalar(item)) for item in items if item]
        if text.startswith(_REFUSED_STARTS) or ": " in text or text.endswith(":"):
            raise self._error(
                "unsupported YAML (anchor, tag, flow mapping, folded scalar or `: ` in a value)"
            )
        return text


def read_yaml(text: str) -> Any:
    return YamlSubset(text).parse()


# --- The commands a job runs ---------------------------------------------------------------------------

_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(?P<tag>\w+)\1")
_SHELL_OPERATOR = re.compile(r"^[();<>|&]+$")


def shell_lines(script: Any) -> Iterator[str]:
    """The logical shell lines of a `script:` list or a `run:` block: continuations joined, comments and
    here-document bodies (data for another program, such as an inline Python script) left out."""
    blocks = [script] if isinstance(script, str) else list(script or [])
    for block in blocks:
        heredoc_end = None
        for line in str(block).replace("\\\n", " ").splitlines():
            if heredoc_end is not None:
                heredoc_end = None if line.strip() == heredoc_end else heredoc_end
                continue
            if match := _HEREDOC.search(line):
                heredoc_end = match["tag"]
            if line.strip() and not line.lstrip().startswith("#"):
                yield line


def harness_commands(script: Any) -> list[list[str]]:
    """Each `psc-conformance …` command of the shell lines, as the arguments after the program name."""
    commands = []
    for line in shell_lines(script):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        segment: list[str] = []
        for token in [*lexer, ";"]:
            if not _SHELL_OPERATOR.match(token):
                segment.append(token)
                continue
            while segment and re.match(r"^\w+=", segment[0]):  # VAR=value prefixes
                segment.pop(0)
            if segment and PurePosixPath(segment[0]).name == COMMAND:
                commands.append(segment[1:])
            segment = []
    return commands


def cli_problems(commands: list[list[str]]) -> list[str]:
    """Each command the CLI would refuse (unknown sub-command, unknown option, bad value), with argparse's
    own message."""
    problems = []
    for arguments in commands:
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(arguments)
        except SystemExit as exit_:
            if exit_.code:
                message = stderr.getvalue().strip().splitlines()[-1:] or ["refused"]
                problems.append(f"{COMMAND} {shlex.join(arguments)}: {message[0]}")
    return problems


def parsed(command: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(command)


def _options_of(command: list[str]) -> argparse.Namespace | None:
    """The options a command sets, unknown ones aside; None if the CLI refuses it (cli_problems says why)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return build_parser().parse_known_args(command)[0]
    except SystemExit:
        return None


def subcommand_of(commands: list[list[str]], name: str) -> list[list[str]]:
    return [c for c in commands if c[:1] == [name]]


# --- What a recipe must do ----------------------------------------------------------------------------


@dataclass
class Campaign:
    """The run command of a recipe and the artifact paths and junit publication around it."""

    commands: list[list[str]]
    output: str | None


def _campaign(commands: list[list[str]]) -> tuple[Campaign, list[str]]:
    runs = subcommand_of(commands, "run")
    if len(runs) != 1:
        return Campaign(commands, None), [f"expected one `{COMMAND} run`, found {len(runs)}"]
    options = _options_of(runs[0])
    if options is None:
        return Campaign(commands, None), []
    output = options.output
    if output is None:
        return Campaign(commands, None), [
            "`run` has no --output: the artifacts cannot name the run directory"
        ]
    problems = []
    if not subcommand_of(commands, "pki"):
        problems.append(f"no `{COMMAND} pki`: the proxy has no test PKI to be configured with")
    return Campaign(commands, str(output)), problems


def _covers(paths: Any, target: str) -> bool:
    """Whether an artifact's paths (a list, or a multi-line string) include `target` or a parent."""
    entries = paths.splitlines() if isinstance(paths, str) else list(paths or [])
    wanted = PurePosixPath(target)
    return any(PurePosixPath(e.strip()) in (wanted, *wanted.parents) for e in entries if e.strip())


def _python_at_least_minimum(version: str) -> bool:
    """`3.12` (setup-python) or `python:3.12…` (an image)."""
    match = re.search(r"(?:^|python:)(\d+)\.(\d+)", version)
    return match is not None and (int(match[1]), int(match[2])) >= MINIMUM_PYTHON


def gitlab_problems(doc: Any) -> tuple[Campaign | None, list[str]]:
    """A GitLab CI file: one job runs the campaign, keeps its directory on failure, publishes junit."""
    jobs = {name: job for name, job in (doc or {}).items() if isinstance(job, dict) and "script" in job}
    for name, job in jobs.items():
        commands = [
            c for key in ("before_script", "script", "after_script") for c in harness_commands(job.get(key))
        ]
        if not subcommand_of(commands, "run"):
            continue
        campaign, problems = _campaign(commands)
        if campaign.output is None:
            return campaign, problems
        artifacts = job.get("artifacts") or {}
        if artifacts.get("when") != "always":
            problems.append(f"job {name}: artifacts:when is not `always`: a failed job would lose its report")
        if not _covers(artifacts.get("paths"), campaign.output):
            problems.append(f"job {name}: artifacts:paths does not keep {campaign.output}")
        junit = f"{campaign.output}/junit.xml"
        if (artifacts.get("reports") or {}).get("junit") != junit:
            problems.append(f"job {name}: artifacts:reports:junit is not {junit}")
        if job.get("allow_failure") not in (None, "false"):
            problems.append(f"job {name}: allow_failure hides a failed requirement (use waivers)")
        if not _python_at_least_minimum(str(job.get("image", doc.get("image", "")))):
            problems.append(f"job {name}: its image is not a python:3.11+ image")
        return campaign, problems
    return None, [f"no job runs `{COMMAND} run`"]


def _always(step: dict[str, Any]) -> bool:
    return "always()" in str(step.get("if", ""))


def github_problems(doc: Any) -> tuple[Campaign | None, list[str]]:
    """A GitHub Actions workflow: one step runs the campaign; later steps, even after a failure, upload
    its directory and junit.xml and write a job summary from results.json."""
    for name, job in ((doc or {}).get("jobs") or {}).items():
        steps: list[dict[str, Any]] = job.get("steps") or []
        commands = [c for step in steps for c in harness_commands(step.get("run"))]
        run_steps = [
            i for i, step in enumerate(steps) if subcommand_of(harness_commands(step.get("run")), "run")
        ]
        if not run_steps:
            continue
        campaign, problems = _campaign(commands)
        if campaign.output is None:
            return campaign, problems
        if str(steps[run_steps[0]].get("continue-on-error", "false")) != "false":
            problems.append(f"job {name}: continue-on-error on the campaign hides a failed requirement")
        later = steps[run_steps[0] + 1 :]
        uploads = [
            step.get("with") or {}
            for step in later
            if str(step.get("uses", "")).startswith("actions/upload-artifact@") and _always(step)
        ]
        if not any(_covers(u.get("path"), campaign.output) for u in uploads):
            problems.append(f"job {name}: no upload-artifact step with if: always() keeps {campaign.output}")
        junit = f"{campaign.output}/junit.xml"
        if not any(str(u.get("path", "")).strip() == junit for u in uploads):
            problems.append(f"job {name}: no upload-artifact step with if: always() publishes {junit} alone")
        summaries = [s for s in later if _always(s) and "GITHUB_STEP_SUMMARY" in str(s.get("run", ""))]
        if not any(f"{campaign.output}/results.json" in str(s["run"]) for s in summaries):
            problems.append(f"job {name}: no step with if: always() writes a job summary from results.json")
        pythons = [
            str((s.get("with") or {}).get("python-version", ""))
            for s in steps
            if str(s.get("uses", "")).startswith("actions/setup-python@")
        ]
        if not any(_python_at_least_minimum(v) for v in pythons):
            problems.append(f"job {name}: no actions/setup-python step with Python 3.11+")
        return campaign, problems
    return None, [f"no job runs `{COMMAND} run`"]


RECIPE_CHECKS = {GITLAB.name: gitlab_problems, GITHUB.name: github_problems}


def check_recipe(name: str, text: str) -> tuple[Campaign | None, list[str]]:
    campaign, problems = RECIPE_CHECKS[name](read_yaml(text))
    return campaign, problems + (cli_problems(campaign.commands) if campaign else [])


# --- The recipes as shipped ---------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", [GITLAB, GITHUB], ids=lambda p: p.name)
def test_recipe_runs_existing_commands_and_keeps_its_report(recipe: Path) -> None:
    campaign, problems = check_recipe(recipe.name, recipe.read_text(encoding="utf-8"))
    assert problems == []
    assert campaign is not None and campaign.output == "reports/ci"
    assert [c[0] for c in campaign.commands] == ["pki", "run"]


@pytest.mark.parametrize("recipe", [GITLAB, GITHUB], ids=lambda p: p.name)
def test_recipe_configures_pki_and_run_from_the_committed_campaign_file(recipe: Path) -> None:
    """`pki` and `run` read the same campaign file, and `pki --out` is where that file's pki_dir points,
    so the proxy and the harness use one PKI."""
    campaign, _ = check_recipe(recipe.name, recipe.read_text(encoding="utf-8"))
    assert campaign is not None
    pki, run = (parsed(subcommand_of(campaign.commands, name)[0]) for name in ("pki", "run"))
    assert pki.config == run.config == Path(CAMPAIGN.name)
    config = load_config(CAMPAIGN)
    assert config.external and config.sut.start, "the example starts the vendor's proxy through [sut] start"
    assert config.campaign.pki_dir == (CAMPAIGN.parent / pki.out).resolve()


def _fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_doc_includes_each_recipe_verbatim_and_links_to_it() -> None:
    doc = DOC.read_text(encoding="utf-8")
    blocks = _fenced_blocks(doc, "yaml") + _fenced_blocks(doc, "toml")
    for recipe in (GITLAB, GITHUB, CAMPAIGN):
        assert recipe.read_text(encoding="utf-8") in blocks, f"{recipe.name} differs from its copy in ci.md"
        assert f"](ci/{recipe.name})" in doc


def test_the_docs_shell_commands_exist_in_the_cli() -> None:
    commands = [
        c for block in _fenced_blocks(DOC.read_text(encoding="utf-8"), "sh") for c in harness_commands(block)
    ]
    assert {c[0] for c in commands} >= {"run", "verify", "diff"}
    assert cli_problems(commands) == []


def test_the_readme_lists_the_ci_doc() -> None:
    assert "(docs/ci.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


# --- The checks catch what they are for ----------------------------------------------------------------

_GITLAB_JOB = """\
campaign:
  image: python:3.12
  script:
    - psc-conformance pki --out pki --config campaign.toml
    - {run}
  artifacts:
    when: {when}
    paths: [reports/ci/]
    reports:
      junit: reports/ci/junit.xml
"""
_GOOD_RUN = "psc-conformance run --config campaign.toml --output reports/ci"


def test_a_good_inline_gitlab_job_passes() -> None:
    """The baseline of the negative cases below: they differ from it by one thing each."""
    assert check_recipe(GITLAB.name, _GITLAB_JOB.format(run=_GOOD_RUN, when="always"))[1] == []


def test_an_option_the_cli_does_not_have_is_caught() -> None:
    run = _GOOD_RUN + " --no-such-option"
    problems = check_recipe(GITLAB.name, _GITLAB_JOB.format(run=run, when="always"))[1]
    assert len(problems) == 1 and "unrecognized arguments: --no-such-option" in problems[0]


def test_a_sub_command_the_cli_does_not_have_is_caught() -> None:
    problems = cli_problems(harness_commands("set -e\npsc-conformance certify reports/ci && echo done"))
    assert len(problems) == 1 and "invalid choice: 'certify'" in problems[0]


def test_artifacts_kept_only_on_success_are_caught() -> None:
    problems = check_recipe(GITLAB.name, _GITLAB_JOB.format(run=_GOOD_RUN, when="on_success"))[1]
    assert problems == ["job campaign: artifacts:when is not `always`: a failed job would lose its report"]


def test_a_github_upload_that_skips_failed_runs_is_caught() -> None:
    text = GITHUB.read_text(encoding="utf-8")
    without_always = text.replace(
        "      - name: Keep junit.xml for a test view\n        if: always()\n",
        "      - name: Keep junit.xml for a test view\n",
    )
    assert without_always != text
    assert check_recipe(GITHUB.name, without_always)[1] == [
        "job campaign: no upload-artifact step with if: always() publishes reports/ci/junit.xml alone"
    ]


# --- The YAML reader ----------------------------------------------------------------------------------


def test_the_reader_reads_the_forms_the_recipes_use() -> None:
    text = """\
# comment
on:
  push:
    branches: [main, 'release/*']
jobs:
  one:
    steps:
      - uses: actions/checkout@v4   # trailing comment
      - name: "quoted: value"
        run: |
          echo "# not a comment"
          cat <<'EOF'
          psc-conformance not-a-command
          EOF
        with:
          path: reports/ci/
    list:
    - a
    - b
"""
    steps = read_yaml(text)["jobs"]["one"]["steps"]
    assert read_yaml(text)["on"]["push"]["branches"] == ["main", "release/*"]
    assert steps[0] == {"uses": "actions/checkout@v4"}
    assert steps[1]["name"] == "quoted: value"
    assert steps[1]["run"] == "echo \"# not a comment\"\ncat <<'EOF'\npsc-conformance not-a-command\nEOF\n"
    assert steps[1]["with"] == {"path": "reports/ci/"}
    assert read_yaml(text)["jobs"]["one"]["list"] == ["a", "b"]
    assert harness_commands(steps[1]["run"]) == []  # a here-document's body is data, not commands


@pytest.mark.parametrize(
    "text",
    [
        "a: &anchor 1\n",
        "a: {b: 1}\n",
        "a: >\n  folded\n",
        "a:\n\tb: 1\n",
        "a: 1\na: 2\n",
        "a: b: c\n",
        "a:\n  b: 1\n   c: 2\n",
        "a: 'unterminated\n",
    ],
    ids=["anchor", "flow-mapping", "folded", "tab", "duplicate", "colon-in-plain", "bad-indent", "quote"],
)
def test_the_reader_refuses_what_it_does_not_support(text: str) -> None:
    with pytest.raises(YamlSubsetError):
        read_yaml(text)
