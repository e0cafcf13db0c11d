"""The auditor's report: one self-contained HTML file rendered from `results.json` alone.

Order of reading: a cover stating one global verdict, the requirement matrix, the root causes (so that
the one defect behind several red requirements is read first), then a section per requirement with its
conditions and the exchanges they relied on, attestations and waivers, and the scenarios.

No template engine, no script and no external asset: a Content-Security-Policy forbids anything but the
inline style, so the file opens offline and nothing in it can run or load. The matrix filters are CSS
only (checkboxes). Every value the SUT could have influenced (names, messages, URLs, headers, bodies,
token claims, node ids) goes through `_e()`; ids and classes come from fixed sets, slugs or digests; a
URL becomes a link only when it is http(s).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

from conformance.report.i18n import texts

VERDICT_ORDER: Final = (
    "fail",
    "warning",
    "inconclusive",
    "not_tested",
    "manual",
    "attested",
    "pass",
    "not_applicable",
)
CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
)
# What pytest accepts as one identifier in a -k expression (`_pytest/mark/expression.py`).
_K_IDENT: Final = re.compile(r"[\w:+\-.\[\]\\/]+")
_K_RESERVED: Final = frozenset({"and", "or", "not", "true", "false", "none"})


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _anchor(prefix: str, key: str) -> str:
    """Anchors derived from a digest, so no SUT text ever lands in an attribute."""
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def requirement_anchor(requirement_id: str) -> str:
    """`req-exi-psc-24`: the id of a requirement's section (the browser test and links rely on it)."""
    return "req-" + (re.sub(r"[^a-z0-9]+", "-", requirement_id.lower()).strip("-") or "unnamed")


def _localized(value: Mapping[str, str] | str | None, lang: str) -> str:
    if isinstance(value, Mapping):
        return value.get(lang) or value.get("fr") or ""
    return value or ""


def _safe_href(url: object) -> str | None:
    """An escaped href for an http(s) URL; anything else (javascript:, data:, relative…) is text only."""
    if not isinstance(url, str) or any(ord(c) < 0x21 or c in "\\\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return _e(url)


def _link_or_text(url: object, text: object) -> str:
    href = _safe_href(url)
    return f'<a href="{href}" rel="noreferrer">{_e(text)}</a>' if href else _e(text)


def _badge(kind: str, value: str, label: str) -> str:
    return f'<span class="badge {kind}-{_e(value)}">{_e(label)}</span>'


def _table(headers: Iterable[str], rows: Iterable[str], cls: str, widths: Sequence[str] = ()) -> str:
    cols = "".join(f'<col class="{_e(w)}">' for w in widths)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    colgroup = f"<colgroup>{cols}</colgroup>" if cols else ""
    return (
        f'<table class="{cls}">{colgroup}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _waiver_state(req: Mapping[str, Any]) -> str | None:
    waiver = req.get("waiver")
    return str(waiver.get("state")) if isinstance(waiver, Mapping) else None


def _is_failure(check: Mapping[str, Any]) -> bool:
    """A condition that failed as a MUST (prerequisites included: they block what follows)."""
    status = check.get("status") or ("passed" if check.get("ok") else "failed")
    return status == "failed" and check.get("severity") != "warning"


def _readable_body(body: str, truncated: bool) -> str:
    """Compact JSON indented for reading, only when that loses nothing (no duplicate key, no odd number
    or escape): otherwise the body is shown exactly as sent, since it is evidence."""
    if truncated or not body.lstrip().startswith(("{", "[")):
        return body
    with contextlib.suppress(ValueError, RecursionError):
        document = json.loads(body)
        for separators in ((",", ":"), (", ", ": ")):  # as sent compact, or as redaction re-wrote it
            if json.dumps(document, ensure_ascii=False, separators=separators) == body.strip():
                return json.dumps(document, ensure_ascii=False, indent=2)
    return body


def _scenario_title(scenario: Mapping[str, Any]) -> str:
    """Its docstring's first line, with the case of a parametrized scenario (cases share a docstring)."""
    nodeid = str(scenario["nodeid"])
    title = str(scenario.get("title") or "")
    if not title:
        return nodeid
    name = nodeid.rsplit("::", 1)[-1]
    return f"{title} [{name.split('[', 1)[1]}" if "[" in name else title


# -- global verdict ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalVerdict:
    """The one verdict of the cover, and the reasons stated beside it (i18n key, count)."""

    value: str  # "pass" | "fail" | "inconclusive"
    reasons: tuple[tuple[str, int], ...]


def global_verdict(doc: Mapping[str, Any]) -> GlobalVerdict:
    """Non conforme on any unwaived failure; else non concluant if anything is missing; else conforme.

    A failure under an active waiver does not make the SUT non conforme, but it stays red and counted.
    A requirement to be declared (`manual`) does not prevent conforme: the wire cannot establish it.
    """
    requirements = doc["requirements"]
    counts = Counter(r["verdict"] for r in requirements)
    waived = sum(1 for r in requirements if r["verdict"] == "fail" and _waiver_state(r) == "active")
    campaign = doc.get("campaign", {})
    missing: list[tuple[str, int]] = []
    if not campaign.get("complete", True):
        missing.append(("why.incomplete", 0))
    if campaign.get("selection"):
        missing.append(("why.selection", 0))
    missing += [(f"why.{v}", counts[v]) for v in ("inconclusive", "not_tested") if counts[v]]
    unwaived = counts["fail"] - waived
    if unwaived:
        value, reasons = "fail", [("why.fail", unwaived), *missing]
    elif missing:
        value, reasons = "inconclusive", missing
    else:
        value, reasons = "pass", [("why.pass_waived" if waived else "why.pass", 0)]
    if waived:
        reasons.append(("why.waived", waived))
    if counts["manual"]:
        reasons.append(("why.manual", counts["manual"]))
    return GlobalVerdict(value, tuple(reasons))


# -- re-run commands -----------------------------------------------------------------------------------


def _base_rerun(doc: Mapping[str, Any]) -> str:
    """`campaign.rerun`, or for older results the command rebuilt from the role, faults and variants."""
    rerun = doc.get("campaign", {}).get("rerun")
    if rerun:
        return str(rerun)
    sut = doc["sut"]
    words = ["psc-conformance", "run", "--role", str(sut["role"])]
    for option, key in (("--fault", "faults"), ("--variant", "variants")):
        words += [w for name in sut.get(key, []) for w in (option, str(name))]
    return shlex.join(words)


def _scenario_name(nodeid: str) -> str:
    """The name -k selects a scenario by: its function (with parameters when -k can read them)."""
    name = nodeid.rsplit("::", 1)[-1]
    if _K_IDENT.fullmatch(name) is None:
        name = name.split("[", 1)[0]
    return name


def rerun_command(doc: Mapping[str, Any], nodeid: str) -> str:
    """The one command that re-runs just `nodeid` against the same SUT: `campaign.rerun -k '<name>'`.

    -k matches substrings, so a name contained in another scenario's name excludes that one.
    """
    name = _scenario_name(nodeid)
    others = sorted(
        {
            other
            for other in (_scenario_name(s["nodeid"]) for s in doc.get("scenarios", []))
            if other != name and name.lower() in other.lower() and _K_IDENT.fullmatch(other)
        }
    )
    expression = " and not ".join([name, *others])
    if _K_IDENT.fullmatch(name) is None or name.lower() in _K_RESERVED or "'" in expression:
        quoted = shlex.quote(expression)
    else:
        quoted = f"'{expression}'"
    return f"{_base_rerun(doc)} -k {quoted}"


# -- root causes ---------------------------------------------------------------------------------------


@dataclass
class RootCause:
    """A condition that failed first in one or more scenarios, or a blockage with no failure behind it."""

    key: str
    failed: bool  # False: a blockage (an error, a silent SUT) that no failed condition explains
    title: Mapping[str, str] | str
    message: str
    conditions: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    failed_reqs: list[str] = field(default_factory=list)
    warned_reqs: list[str] = field(default_factory=list)
    blocked_reqs: list[str] = field(default_factory=list)
    order: int = 0

    @property
    def anchor(self) -> str:
        return _anchor("rc", self.key)

    @property
    def size(self) -> int:
        return len(set(self.failed_reqs) | set(self.blocked_reqs))


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


class RootCauses:
    """Failures grouped by the condition that failed first in their scenario, blockages attached to them."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self._groups: dict[str, RootCause] = {}
        self._by_condition: dict[str, RootCause] = {}
        self._by_scenario: dict[str, RootCause] = {}
        verdicts = {r["id"]: r["verdict"] for r in doc["requirements"]}
        for scenario in doc["scenarios"]:
            self._add_scenario(scenario, verdicts)
        for req in doc["requirements"]:
            for blockage in req.get("inconclusive", []):
                _add(self.for_blockage(blockage).blocked_reqs, req["id"])

    def _group(self, key: str, failed: bool, title: Mapping[str, str] | str, message: str) -> RootCause:
        if key not in self._groups:
            self._groups[key] = RootCause(key, failed, title, message, order=len(self._groups))
        return self._groups[key]

    def _add_scenario(self, scenario: Mapping[str, Any], verdicts: Mapping[str, str]) -> None:
        failures = [c for c in scenario["checks"] if _is_failure(c)]
        if not failures:
            return
        first = failures[0]
        group = self._group(
            f"condition:{first.get('name', '')}", True, first.get("title", {}), first["message"]
        )
        _add(group.scenarios, scenario["nodeid"])
        self._by_scenario.setdefault(scenario["nodeid"], group)
        for check in failures:
            _add(group.conditions, check.get("name", ""))
            self._by_condition.setdefault(check.get("name", ""), group)
            verdict = verdicts.get(check["requirement"])
            if verdict == "fail":
                _add(group.failed_reqs, check["requirement"])
            elif verdict == "warning":
                _add(group.warned_reqs, check["requirement"])

    def for_blockage(self, blockage: Mapping[str, Any]) -> RootCause:
        """The group a blockage points to: the condition that blocked it, or the scenario where it failed;
        failing both, a group of its own named by its root cause (an error, a silent SUT)."""
        group = self._by_condition.get(blockage.get("blocked_by") or "") or self._by_scenario.get(
            blockage.get("failed_in") or ""
        )
        if group is not None:
            return group
        cause = blockage.get("root_cause") or blockage.get("reason") or ""
        key = f"blockage:{blockage.get('blocked_by') or cause}"
        group = self._group(key, False, blockage.get("blocked_by") or "", cause)
        _add(group.scenarios, blockage.get("scenario", ""))
        return group

    def ordered(self) -> list[RootCause]:
        """Most requirements affected first; failed conditions before blockages; then order met."""
        return sorted(self._groups.values(), key=lambda g: (-g.size, not g.failed, g.order))


# -- the page ------------------------------------------------------------------------------------------


def render_html(doc: Mapping[str, Any], lang: str = "fr") -> str:
    """The report for `doc` (a valid `results.json` document) in `lang` ("fr" or "en")."""
    return _Page(doc, lang).render()


class _Page:
    def __init__(self, doc: Mapping[str, Any], lang: str) -> None:
        self.t = texts(lang)
        self.doc = doc
        self.lang = lang
        self.exchanges: Mapping[str, Any] = doc.get("exchanges", {})
        self.causes = RootCauses(doc)
        self.by_id: dict[str, Mapping[str, Any]] = {r["id"]: r for r in doc["requirements"]}
        self.scenario_titles = {s["nodeid"]: _scenario_title(s) for s in doc["scenarios"]}
        self.catalogue_index = {c["id"]: i for i, c in enumerate(doc["catalogues"])}
        self.requirements = sorted(
            doc["requirements"],
            key=lambda r: self.catalogue_index.get(r["catalogue"], len(doc["catalogues"])),
        )
        # Each requirement's checks, by scenario in campaign order: read once, not once per requirement.
        self.checks_by_requirement: dict[str, list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]] = {}
        for scenario in doc["scenarios"]:
            per_requirement: dict[str, list[Mapping[str, Any]]] = {}
            for check in scenario["checks"]:
                per_requirement.setdefault(check["requirement"], []).append(check)
            for rid, checks in per_requirement.items():
                self.checks_by_requirement.setdefault(rid, []).append((scenario, checks))
        # An exchange cited by several conditions is rendered once (the same HTML each time it is shown).
        self.rendered_evidence: dict[tuple[str, bool], str] = {}

    def text(self, key: str, n: int = 0) -> str:
        return self.t[key].replace("{n}", str(n))

    def render(self) -> str:
        t = self.t
        css = resources.files("conformance").joinpath("report/report.css").read_text("utf-8")
        parts = [
            self.cover(),
            self.contents(),
            self.matrix(),
            self.root_causes(),
            self.requirement_sections(),
            self.declarations(),
            self.scenarios(),
            self.legend(),
        ]
        return (
            f'<!DOCTYPE html>\n<html lang="{_e(self.lang)}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="referrer" content="no-referrer">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(t['title'])}</title>\n<style>\n{css}{self.catalogue_filter_css()}</style>\n"
            "</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
        )

    # -- cover -----------------------------------------------------------------------------------------

    def cover(self) -> str:
        t, doc = self.t, self.doc
        verdict = global_verdict(doc)
        reasons = " · ".join(_e(self.text(key, n)) for key, n in verdict.reasons)
        counts = Counter(r["verdict"] for r in doc["requirements"])
        count_items = "".join(
            f"<li>{_badge('verdict', v, t[f'verdict.{v}'])} <strong>{counts[v]}</strong></li>"
            for v in VERDICT_ORDER
            if counts[v]
        )
        first = next((g for g in self.causes.ordered() if g.size), None)
        first_look = ""
        if first is not None:
            first_look = (
                f'<p class="first-look"><strong>{_e(t["first_look"])} :</strong> '
                f'<a href="#{first.anchor}">{_e(self.cause_title(first))}</a> — '
                f"{_e(self.text('affects', first.size))}</p>"
            )
        banner = ""
        campaign = doc.get("campaign", {})
        if not campaign.get("complete", True):
            errors = "".join(f"<li>{_e(err)}</li>" for err in campaign.get("errors", []))
            banner = f'<div class="alert"><p>{_e(t["incomplete"])}</p><ul>{errors}</ul></div>'
        notes = "".join(f'<p class="note">{_e(n)}</p>' for n in campaign.get("notes", []))
        return (
            f'<header id="cover"><h1>{_e(t["title"])}</h1>'
            f'<div class="verdict-box gv-{_e(verdict.value)}">'
            f'<p class="gv-label">{_e(t["global_verdict"])}</p>'
            f'<p id="global-verdict">{_e(t[f"global.{verdict.value}"])}</p>'
            f'<p class="gv-why">{reasons}</p><ul class="counts">{count_items}</ul>{first_look}</div>'
            f'{banner}<dl class="facts">{self.facts()}</dl>{notes}</header>'
        )

    def facts(self) -> str:
        t, doc = self.t, self.doc
        sut, campaign = doc["sut"], doc.get("campaign", {})
        rows: list[tuple[str, str]] = [
            (t["sut"], _e(sut["name"] or t["no_sut"])),
            (t["role"], _e(t.get(f"role.{sut['role']}", sut["role"]))),
            (t["version"], _e(sut.get("version") or t["unknown"])),
            (t["base_url"], f"<code>{_e(sut['base_url'] or '—')}</code>"),
        ]
        subjects = self.certificate_subjects()
        if subjects:
            rows.append((t["certificates"], "<br>".join(f"<code>{_e(s)}</code>" for s in subjects)))
        if sut.get("faults"):
            rows.append((t["faults"], "<br>".join(f"<code>{_e(f)}</code>" for f in sut["faults"])))
        if sut.get("variants"):
            rows.append((t["variants"], "<br>".join(f"<code>{_e(v)}</code>" for v in sut["variants"])))
        catalogues = "<br>".join(
            f"{_e(_localized(c.get('titles'), self.lang) or c['title'])} — v{_e(c['version'])}"
            for c in doc["catalogues"]
        )
        digest = campaign.get("config_sha256")
        rows += [
            (t["harness"], _e(f"{doc['harness']['name']} {doc['harness']['version']}")),
            (t["catalogues"], catalogues),
            (t["started"], _e(doc["started_at"])),
            (t["finished"], _e(doc["finished_at"])),
            (t["config_hash"], f"<code>{_e(digest)}</code>" if digest else _e(t["config_hash.none"])),
        ]
        if campaign.get("selection"):
            rows.append((t["selection"], f"<code>{_e(campaign['selection'])}</code>"))
        rows.append((t["rerun_base"], f"<code>{_e(_base_rerun(doc))}</code>"))
        return "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows)

    def certificate_subjects(self) -> list[str]:
        """The SUT's certificates seen in the cited exchanges: as TLS client to us, as TLS server to us."""
        seen: list[str] = []
        for exchange in self.exchanges.values():
            tls = exchange.get("tls") or {}
            own = "client_subject" if exchange.get("direction") == "to_harness" else "server_subject"
            if tls.get(own):
                _add(seen, str(tls[own]))
        return sorted(seen)

    def contents(self) -> str:
        t = self.t
        links = (
            ("matrix", t["matrix"]),
            ("root-causes", t["root_causes"]),
            ("requirements", t["details"]),
            ("declarations", t["declarations"]),
            ("scenarios", t["scenarios"]),
            ("legend", t["legend"]),
        )
        items = "".join(f'<li><a href="#{target}">{_e(label)}</a></li>' for target, label in links)
        return f'<nav id="contents" aria-label="{_e(t["contents"])}"><ul>{items}</ul></nav>'

    # -- matrix ----------------------------------------------------------------------------------------

    def catalogue_filter_css(self) -> str:
        """One rule per catalogue checkbox (indexes only: no catalogue text in the style sheet)."""
        return "".join(
            f"#fc-{i}:not(:checked) ~ .matrix-wrap tr.c-{i} {{ display: none; }}\n"
            for i in range(len(self.doc["catalogues"]))
        )

    def matrix(self) -> str:
        t, doc = self.t, self.doc
        counts = Counter(r["verdict"] for r in doc["requirements"])
        verdict_filters = "".join(
            f'<input type="checkbox" class="flt" id="fv-{v}" checked>'
            f'<label for="fv-{v}">{_badge("verdict", v, t[f"verdict.{v}"])} {counts[v]}</label>'
            for v in VERDICT_ORDER
            if counts[v]
        )
        per_catalogue = Counter(r["catalogue"] for r in doc["requirements"])
        catalogue_filters = "".join(
            f'<input type="checkbox" class="flt" id="fc-{i}" checked>'
            f'<label for="fc-{i}">{_e(_localized(c.get("titles"), self.lang) or c["title"])} '
            f"({per_catalogue[c['id']]})</label>"
            for i, c in enumerate(doc["catalogues"])
        )
        rows: list[str] = []
        current = None
        for req in self.requirements:
            index = self.catalogue_index.get(req["catalogue"], -1)
            if req["catalogue"] != current:
                current = req["catalogue"]
                rows.append(self.catalogue_row(index))
            rows.append(self.matrix_row(req, index))
        table = _table(
            [t["requirement"], t["wording"], t["level"], t["method"], t["verdict"]],
            rows,
            "matrix",
            ("w-id", "w-title", "w-level", "w-method", "w-verdict"),
        )
        return (
            f'<section id="matrix"><h2>{_e(t["matrix"])}</h2>'
            f'<p class="hint no-print">{_e(t["filter.hint"])}</p>'
            f'<span class="flt-title no-print">{_e(t["filter.verdict"])}</span>{verdict_filters}'
            f'<span class="flt-break"></span>'
            f'<span class="flt-title no-print">{_e(t["filter.catalogue"])}</span>{catalogue_filters}'
            f'<div class="matrix-wrap">{table}</div></section>'
        )

    def catalogue_row(self, index: int) -> str:
        if index < 0:
            return ""
        c = self.doc["catalogues"][index]
        title = _localized(c.get("titles"), self.lang) or c["title"]
        link = f" · {_link_or_text(c.get('url'), c.get('url'))}" if c.get("url") else ""
        return (
            f'<tr class="cat c-{index}"><th colspan="5">{_e(title)} <small>v{_e(c["version"])}'
            f"{link}</small></th></tr>"
        )

    def matrix_row(self, req: Mapping[str, Any], index: int) -> str:
        t = self.t
        verdict = req["verdict"]
        level, method = req.get("level", ""), req.get("method", "")
        verdict_class = verdict if verdict in VERDICT_ORDER else "unknown"
        return (
            f'<tr class="v-{verdict_class} c-{index}">'
            f'<td class="rid"><a href="#{requirement_anchor(req["id"])}">{_e(req["id"])}</a></td>'
            f"<td>{_e(_localized(req.get('title'), self.lang))}{self.marks(req)}</td>"
            f"<td>{_e(t.get(f'level.{level}', level))}</td>"
            f"<td>{_e(t.get(f'method.{method}', method))}</td>"
            f"<td>{_badge('verdict', verdict, t.get(f'verdict.{verdict}', verdict))}"
            f"{self.waiver_mark(req)}</td></tr>"
        )

    def marks(self, req: Mapping[str, Any]) -> str:
        """What a matrix row needs beside the title: who attested it, what blocked it."""
        t = self.t
        marks = []
        if "attestation" in req:
            a = req["attestation"]
            marks.append(
                f'<span class="mark attested">{_e(t["attested_by"])} {_e(a["by"])}, {_e(a["date"])}</span>'
            )
        blockers: list[RootCause] = []
        for blockage in req.get("inconclusive", []):
            group = self.causes.for_blockage(blockage)
            if group not in blockers:
                blockers.append(group)
        for group in blockers:
            marks.append(
                f'<span class="mark blocked">{_e(t["blocked_by"])} '
                f'<a href="#{group.anchor}">{_e(self.cause_title(group))}</a></span>'
            )
        return "".join(marks)

    def waiver_mark(self, req: Mapping[str, Any]) -> str:
        state = _waiver_state(req)
        if state is None:
            return ""
        label = self.t["waived_mark"]
        if state != "active":
            label += " " + self.t.get(f"waiver.{state}", state)
        return f' <span class="mark waiver waiver-{_e(state)}">{_e(label)}</span>'

    # -- root causes -----------------------------------------------------------------------------------

    def cause_title(self, group: RootCause) -> str:
        title = _localized(group.title, self.lang)
        name = group.conditions[0] if group.conditions else ""
        if group.failed:
            return title or name or group.message
        return title or group.message

    def root_causes(self) -> str:
        t = self.t
        groups = self.causes.ordered()
        if not groups:
            body = f"<p>{_e(t['root_causes.none'])}</p>"
        else:
            body = f'<ol class="root-causes">{"".join(self.root_cause(g) for g in groups)}</ol>'
        return (
            f'<section id="root-causes"><h2>{_e(t["root_causes"])}</h2>'
            f'<p class="hint">{_e(t["root_causes.hint"])}</p>{body}</section>'
        )

    def requirement_links(self, ids: Iterable[str], waivers: bool = False) -> str:
        links = []
        for rid in ids:
            mark = self.waiver_mark(self.by_id[rid]) if waivers and rid in self.by_id else ""
            links.append(f'<a href="#{requirement_anchor(rid)}">{_e(rid)}</a>{mark}')
        return ", ".join(links)

    def root_cause(self, group: RootCause) -> str:
        t = self.t
        kind = (
            _badge("verdict", "fail", t["rc.condition"])
            if group.failed
            else _badge("verdict", "inconclusive", t["rc.blocking"])
        )
        name = f" <code>{_e(group.conditions[0])}</code>" if group.failed and group.conditions else ""
        lines = []
        for key, ids, waivers in (
            ("rc.failed", group.failed_reqs, True),
            ("rc.warned", group.warned_reqs, False),
            ("rc.blocked", group.blocked_reqs, False),
        ):
            if ids:
                lines.append(f"<p><strong>{_e(t[key])} :</strong> {self.requirement_links(ids, waivers)}</p>")
        others = group.conditions[1:]
        if others:
            names = ", ".join(f"<code>{_e(n)}</code>" for n in others)
            lines.append(f"<p><strong>{_e(t['rc.also_failed'])} :</strong> {names}</p>")
        scenarios = "".join(
            f'<li><a href="#{_anchor("s", nodeid)}">{_e(self.scenario_title(nodeid))}</a>'
            f"{self.rerun(nodeid) if group.failed else ''}</li>"
            for nodeid in group.scenarios
            if nodeid
        )
        if scenarios:
            lines.append(
                f'<p><strong>{_e(t["rc.observed"])} :</strong></p><ul class="plain">{scenarios}</ul>'
            )
        return (
            f'<li class="root-cause" id="{group.anchor}"><h3>{kind} {_e(self.cause_title(group))}{name}</h3>'
            f'<p class="msg">{_e(group.message)}</p>{"".join(lines)}</li>'
        )

    def scenario_title(self, nodeid: str) -> str:
        return self.scenario_titles.get(nodeid, nodeid)

    def rerun(self, nodeid: str) -> str:
        return (
            f'<p class="rerun-line">{_e(self.t["rerun"])} : '
            f'<code class="rerun">{_e(rerun_command(self.doc, nodeid))}</code></p>'
        )

    # -- requirement sections --------------------------------------------------------------------------

    def requirement_sections(self) -> str:
        sections = "".join(self.requirement_section(r) for r in self.requirements)
        return f'<section id="requirements"><h2>{_e(self.t["details"])}</h2>{sections}</section>'

    def requirement_section(self, req: Mapping[str, Any]) -> str:
        t = self.t
        verdict = req["verdict"]
        verdict_class = verdict if verdict in VERDICT_ORDER else "unknown"
        catalogue: Mapping[str, Any] = next(
            (c for c in self.doc["catalogues"] if c["id"] == req["catalogue"]), {}
        )
        url = req.get("url") or catalogue.get("url")
        facts = [
            (t["source"], _e(req.get("source", "")) + (f" — {_link_or_text(url, url)}" if url else "")),
            (
                t["catalogue"],
                _e(_localized(catalogue.get("titles"), self.lang) or catalogue.get("title", "")),
            ),
            (t["level"], _e(t.get(f"level.{req.get('level', '')}", req.get("level", "")))),
            (t["method"], _e(t.get(f"method.{req.get('method', '')}", req.get("method", "")))),
            (t["applies_to"], _e(", ".join(t.get(f"role.{r}", r) for r in req.get("applies_to", [])))),
        ]
        if req.get("notes"):
            facts.append((t["reading"], _e(_localized(req["notes"], self.lang))))
        dl = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in facts)
        return (
            f'<section class="requirement v-{verdict_class}" id="{requirement_anchor(req["id"])}">'
            f'<h3><span class="rid">{_e(req["id"])}</span> '
            f"{_badge('verdict', verdict, t.get(f'verdict.{verdict}', verdict))}{self.waiver_mark(req)} "
            f"{_e(_localized(req.get('title'), self.lang))}</h3>"
            f'<dl class="req-facts">{dl}</dl>{self.waiver_box(req)}{self.attestation_box(req)}'
            f"{self.blockage_box(req)}{self.conditions(req)}</section>"
        )

    def waiver_box(self, req: Mapping[str, Any]) -> str:
        waiver = req.get("waiver")
        if not isinstance(waiver, Mapping):
            return ""
        t, state = self.t, str(waiver.get("state", ""))
        return (
            f'<div class="box waiver-box waiver-{_e(state)}"><strong>{_e(t["waiver"])}</strong> — '
            f"{_e(t.get(f'waiver.{state}', state))}<br>{_e(t['waiver.justification'])} : "
            f"{_e(waiver.get('justification'))} · {_e(t['waiver.owner'])} : {_e(waiver.get('owner'))} · "
            f"{_e(t['waiver.expires'])} : {_e(waiver.get('expires'))}</div>"
        )

    def attestation_box(self, req: Mapping[str, Any]) -> str:
        if "attestation" not in req:
            return ""
        a, t = req["attestation"], self.t
        return (
            f'<div class="box attestation-box"><strong>{_e(t["attested_by"])}</strong> {_e(a["by"])}, '
            f"{_e(a['date'])} — {_e(t['attestation.document'])} : {_e(a['evidence'])}</div>"
        )

    def blockage_box(self, req: Mapping[str, Any]) -> str:
        """Why an inconclusive requirement could not be judged, and the defect behind it."""
        t = self.t
        items, seen = [], set()
        for b in req.get("inconclusive", []):
            key = (b["reason"], b["root_cause"], b.get("failed_in"))
            if key in seen:
                continue  # several scenarios stopped by the same defect: one line says it
            seen.add(key)
            group = self.causes.for_blockage(b)
            where = ""
            if b.get("failed_in"):
                where = (
                    f' — {_e(t["failed_in"])} <a href="#{_anchor("s", b["failed_in"])}">'
                    f"{_e(self.scenario_title(b['failed_in']))}</a>"
                )
            items.append(
                f"<li>{_e(b['reason'])}<br><small>{_e(t['root_cause'])} : "
                f'<a href="#{group.anchor}"><code>{_e(b["root_cause"])}</code></a>{where}</small></li>'
            )
        if not items:
            return ""
        return f'<div class="box blocked"><strong>{_e(t["blocked"])}</strong><ul>{"".join(items)}</ul></div>'

    def conditions(self, req: Mapping[str, Any]) -> str:
        t = self.t
        runs = [
            self.scenario_run(scenario, checks)
            for scenario, checks in self.checks_by_requirement.get(req["id"], [])
        ]
        if not runs:
            key = f"no_conditions.{req['verdict']}"
            return f'<p class="none">{_e(t.get(key, t["no_conditions.default"]))}</p>'
        return f"<h4>{_e(t['conditions'])}</h4>{''.join(runs)}"

    def scenario_run(self, scenario: Mapping[str, Any], checks: Sequence[Mapping[str, Any]]) -> str:
        t = self.t
        outcome = scenario["outcome"]
        settled = outcome == "passed" and all(c.get("status", "passed") == "passed" for c in checks)
        rerun = "" if settled else self.rerun(scenario["nodeid"])
        items = "".join(self.condition(c) for c in checks)
        return (
            f'<div class="run"><p class="run-head">'
            f"{_badge('outcome', outcome, t.get(f'outcome.{outcome}', outcome))} "
            f'<a href="#{_anchor("s", scenario["nodeid"])}">{_e(self.scenario_title(scenario["nodeid"]))}</a>'
            f'</p>{rerun}<ol class="conditions">{items}</ol></div>'
        )

    def condition(self, c: Mapping[str, Any]) -> str:
        t = self.t
        status = c.get("status") or ("passed" if c["ok"] else "failed")
        if status == "inconclusive":
            mark = _badge("check", "inc", t["inc"])
        elif status == "passed":
            mark = _badge("check", "ok", t["ok"])
        elif c.get("severity") == "warning":
            mark = _badge("check", "warn", t["warn"])
        else:
            mark = _badge("check", "ko", t["ko"])
        strength = ""
        if c.get("strength"):
            strength = " · " + _e(t.get(f"strength.{c['strength']}", c["strength"]))
        basis = (
            f'<p class="basis">{_e(t["basis"])} : {_e(c["basis"])}{strength}</p>' if c.get("basis") else ""
        )
        if c.get("prerequisite"):
            basis += f'<p class="basis">{_e(t["prerequisite"])}</p>'
        refs = [ref for ref in c.get("evidence", []) if ref]
        evidence = "".join(self.evidence(ref, open_details=status != "passed") for ref in refs)
        if not evidence:
            evidence = f'<p class="none">{_e(t["evidence.none"])}</p>'
        return (
            f'<li class="condition st-{_e(status)}"><p class="cond-head">{mark} '
            f"<strong>{_e(_localized(c.get('title'), self.lang))}</strong> "
            f"<code>{_e(c.get('name', ''))}</code>"
            f'</p>{basis}<p class="msg">{_e(c["message"])}</p>'
            f"{evidence}</li>"
        )

    # -- evidence --------------------------------------------------------------------------------------

    def evidence(self, ref: str, open_details: bool) -> str:
        """One cited exchange: who called whom, request and response lines, TLS, tokens, then the rest."""
        key = (ref, open_details)
        if key not in self.rendered_evidence:
            self.rendered_evidence[key] = self._evidence(ref, open_details)
        return self.rendered_evidence[key]

    def _evidence(self, ref: str, open_details: bool) -> str:
        t = self.t
        ex = self.exchanges.get(ref)
        if not isinstance(ex, Mapping):
            return f'<div class="evidence missing"><code>{_e(ref)}</code> — {_e(t["evidence.unknown"])}</div>'
        direction = t.get(f"direction.{ex.get('direction')}", ex.get("direction") or "")
        when = " · ".join(
            _e(v)
            for v in (ex.get("started_at"), f"{ex['duration_ms']} ms" if "duration_ms" in ex else None)
            if v
        )
        if ex.get("status") is not None:
            outcome = f"HTTP {_e(ex['status'])}"
        else:
            outcome = f"{_e(t['no_response'])} : {_e(ex.get('error') or '—')}"
        error = f" ({_e(ex['error'])})" if ex.get("status") is not None and ex.get("error") else ""
        head = (
            f'<p class="ex-head"><code>{_e(ref)}</code> · {_e(direction)} · {_e(ex.get("counterpart"))}'
            f"{' · ' + when if when else ''}</p>"
            f'<p class="ex-line">{_e(ex.get("counterpart"))}: <strong>{_e(ex.get("method"))}</strong> '
            f"<code>{_e(ex.get('url'))}</code> → <strong>{outcome}</strong>{error}</p>"
        )
        return (
            f'<div class="evidence">{head}{self.tls_line(ex)}{self.tokens(ex)}'
            f"{self.messages(ex, open_details)}</div>"
        )

    def tls_line(self, ex: Mapping[str, Any]) -> str:
        t = self.t
        tls = ex.get("tls")
        if not isinstance(tls, Mapping):
            return ""
        parts = [_e(tls.get("version") or "—"), _e(tls.get("cipher") or "—")]
        if tls.get("client_subject"):
            thumb = f" (x5t#S256 {_e(tls['client_x5t_s256'])})" if tls.get("client_x5t_s256") else ""
            parts.append(f"{_e(t['client_cert'])} : <code>{_e(tls['client_subject'])}</code>{thumb}")
        elif ex.get("direction") == "to_harness":
            parts.append(_e(t["no_client_cert"]))
        if tls.get("server_subject"):
            parts.append(f"{_e(t['server_cert'])} : <code>{_e(tls['server_subject'])}</code>")
        return f'<p class="ex-tls"><strong>{_e(t["tls"])}</strong> {" · ".join(parts)}</p>'

    def tokens(self, ex: Mapping[str, Any]) -> str:
        tokens = [tok for tok in ex.get("tokens", []) if isinstance(tok, Mapping)]
        if not tokens:
            return ""
        # The same token met twice (a header and a body) is shown once, with every place it was found.
        merged: dict[str, tuple[list[str], Mapping[str, Any]]] = {}
        for tok in tokens:
            key = _json([tok.get("header"), tok.get("claims"), tok.get("signature")])
            merged.setdefault(key, ([], tok))[0].append(str(tok.get("where", "")))
        items = []
        for wheres, tok in merged.values():
            content = (
                _e(self.t["encrypted"])
                if tok.get("encrypted")
                else f'<pre class="claims">{_e(_json(tok.get("claims")))}</pre>'
            )
            signature = f" · signature <code>{_e(tok['signature'])}</code>" if tok.get("signature") else ""
            items.append(
                f"<li><code>{_e(', '.join(wheres))}</code> · <code>{_e(_json(tok.get('header')))}</code>"
                f"{signature}{content}</li>"
            )
        return f'<div class="tokens"><p>{_e(self.t["tokens"])}</p><ul>{"".join(items)}</ul></div>'

    def messages(self, ex: Mapping[str, Any], open_details: bool) -> str:
        request = ex.get("request")
        response = ex.get("response")
        if not isinstance(request, Mapping) and not isinstance(response, Mapping):
            return ""
        t = self.t
        blocks = []
        if isinstance(request, Mapping):
            first_line = f"{ex.get('method', '')} {ex.get('url', '')}"
            blocks.append(f"<div><h5>{_e(t['request'])}</h5>{self.http_message(first_line, request)}</div>")
        if isinstance(response, Mapping):
            first_line = f"HTTP {ex.get('status')}"
            blocks.append(f"<div><h5>{_e(t['response'])}</h5>{self.http_message(first_line, response)}</div>")
        opened = " open" if open_details else ""
        return (
            f"<details{opened}><summary>{_e(t['headers_bodies'])}</summary>"
            f'<div class="ex-pair">{"".join(blocks)}</div></details>'
        )

    def http_message(self, first_line: str, message: Mapping[str, Any]) -> str:
        lines = [first_line]
        lines += [f"{h[0]}: {h[1]}" for h in message.get("headers", []) if len(h) == 2]
        body = _readable_body(str(message.get("body") or ""), bool(message.get("truncated")))
        text = "\n".join(lines)
        if body:
            text += "\n\n" + body
        if message.get("binary"):
            text += "\n\n" + self.text("body.binary", int(message.get("size") or 0))
        if message.get("truncated"):
            text += "\n" + self.t["body.truncated"]
        return f"<pre>{_e(text)}</pre>"

    # -- attestations and waivers ----------------------------------------------------------------------

    def declarations(self) -> str:
        t = self.t
        attested = [r for r in self.requirements if "attestation" in r]
        rows = [
            f'<tr><td class="rid"><a href="#{requirement_anchor(r["id"])}">{_e(r["id"])}</a></td>'
            f"<td>{_e(_localized(r.get('title'), self.lang))}</td><td>{_e(r['attestation']['by'])}</td>"
            f"<td>{_e(r['attestation']['date'])}</td><td>{_e(r['attestation']['evidence'])}</td></tr>"
            for r in attested
        ]
        attestations = (
            _table(
                [
                    t["requirement"],
                    t["wording"],
                    t["attested_by"],
                    t["attestation.date"],
                    t["attestation.document"],
                ],
                rows,
                "declared",
                ("w-id", "w-title", "w-who", "w-date", "w-doc"),
            )
            if rows
            else f"<p>{_e(t['attestations.none'])}</p>"
        )
        manual = [r["id"] for r in self.requirements if r["verdict"] == "manual"]
        to_declare = (
            f"<p><strong>{_e(t['to_declare'])} ({len(manual)}) :</strong> "
            f"{self.requirement_links(manual)}</p>"
            if manual
            else ""
        )
        return (
            f'<section id="declarations"><h2>{_e(t["declarations"])}</h2>'
            f"<h3>{_e(t['attestations'])}</h3>{attestations}{to_declare}"
            f"<h3>{_e(t['waivers'])}</h3>{self.waivers()}</section>"
        )

    def waivers(self) -> str:
        t = self.t
        waived = [r for r in self.requirements if isinstance(r.get("waiver"), Mapping)]
        if not waived:
            return f"<p>{_e(t['waivers.none'])}</p>"
        rows = []
        for r in waived:
            w, verdict = r["waiver"], r["verdict"]
            state = str(w.get("state", ""))
            rows.append(
                f'<tr class="waiver-{_e(state)}"><td class="rid"><a href="#{requirement_anchor(r["id"])}">'
                f"{_e(r['id'])}</a></td>"
                f"<td>{_badge('verdict', verdict, t.get(f'verdict.{verdict}', verdict))}</td>"
                f"<td>{_e(w.get('justification'))}</td><td>{_e(w.get('owner'))}</td>"
                f"<td>{_e(w.get('expires'))}</td>"
                f'<td><span class="mark waiver waiver-{_e(state)}">{_e(t.get(f"waiver.{state}", state))}'
                "</span></td></tr>"
            )
        return _table(
            [
                t["requirement"],
                t["verdict"],
                t["waiver.justification"],
                t["waiver.owner"],
                t["waiver.expires"],
                t["waiver.state"],
            ],
            rows,
            "declared",
            ("w-id", "w-verdict", "w-title", "w-who", "w-date", "w-state"),
        )

    # -- scenarios and rules ---------------------------------------------------------------------------

    def scenarios(self) -> str:
        t = self.t
        rows = []
        for s in self.doc["scenarios"]:
            outcome = s["outcome"]
            traffic = str(int(s.get("sut_exchanges", 0))) if s.get("needs_sut", True) else t["self_check"]
            detail = (
                f'<pre class="detail">{_e(s["detail"])}</pre>'
                if s.get("detail") and outcome != "passed"
                else ""
            )
            rows.append(
                f'<tr id="{_anchor("s", s["nodeid"])}"><td>{_e(self.scenario_title(s["nodeid"]))}<br>'
                f'<code class="nodeid">{_e(s["nodeid"])}</code>{detail}</td>'
                f"<td>{_badge('outcome', outcome, t.get(f'outcome.{outcome}', outcome))}</td>"
                f"<td>{self.requirement_links(s.get('requirements', []))}</td>"
                f"<td>{float(s['duration_s']):.2f} s</td><td>{_e(traffic)}</td></tr>"
            )
        table = _table(
            [t["scenario"], t["outcome"], t["requirements"], t["duration"], t["exchanges"]],
            rows,
            "scenarios",
            ("w-title", "w-verdict", "w-reqs", "w-date", "w-date"),
        )
        return f'<section id="scenarios"><h2>{_e(t["scenarios"])}</h2>{table}</section>'

    def legend(self) -> str:
        t = self.t
        items = f"<li>{_e(t['rule.global'])}</li>"
        items += "".join(
            f"<li>{_badge('verdict', v, t[f'verdict.{v}'])} {_e(t[f'rule.{v}'])}</li>"
            for v in (
                "fail",
                "warning",
                "pass",
                "inconclusive",
                "not_applicable",
                "manual",
                "attested",
                "not_tested",
            )
        )
        items += f"<li>{_badge('outcome', 'not_run', t['outcome.not_run'])} {_e(t['rule.not_run'])}</li>"
        items += f"<li>{_e(t['rule.prerequisite'])}</li>"
        return f'<footer id="legend"><h2>{_e(t["legend"])}</h2><ul class="plain">{items}</ul></footer>'


__all__ = [
    "GlobalVerdict",
    "RootCause",
    "RootCauses",
    "global_verdict",
    "render_html",
    "requirement_anchor",
    "rerun_command",
]
