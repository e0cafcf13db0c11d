"""The auditor's report: one self-contained HTML file rendered from `results.json`.

No template engine and no external asset: the file opens offline, and every value that the
SUT could have influenced (names, messages, URLs, node ids) goes through `_e()`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from html import escape
from importlib import resources
from typing import Any

from conformance.report.i18n import texts

VERDICT_ORDER = (
    "fail",
    "warning",
    "inconclusive",
    "not_tested",
    "manual",
    "attested",
    "pass",
    "not_applicable",
)


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _anchor(prefix: str, key: str) -> str:
    """Anchors derived from a digest, so no SUT text ever lands in an attribute unescaped."""
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _localized(value: Mapping[str, str] | str | None, lang: str) -> str:
    if isinstance(value, Mapping):
        return value.get(lang) or value.get("fr") or ""
    return value or ""


def _badge(kind: str, value: str, label: str) -> str:
    return f'<span class="badge {kind}-{_e(value)}">{_e(label)}</span>'


def _table(headers: Iterable[str], rows: Iterable[str], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def render_html(doc: Mapping[str, Any], lang: str = "fr") -> str:
    t = texts(lang)
    parts = [
        _header(doc, t),
        _summary(doc, t),
        _matrix(doc, t, lang),
        _scenarios(doc, t, lang),
        _legend(t),
    ]
    css = resources.files("conformance").joinpath("report/report.css").read_text("utf-8")
    return (
        f'<!DOCTYPE html>\n<html lang="{_e(lang)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(t['title'])}</title>\n<style>\n{css}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )


def _header(doc: Mapping[str, Any], t: Mapping[str, str]) -> str:
    sut = doc["sut"]
    campaign = doc.get("campaign", {})
    facts = [
        (t["sut"], sut["name"] or t["no_sut"]),
        (t["role"], t.get(f"role.{sut['role']}", sut["role"])),
        (t["base_url"], sut["base_url"] or "—"),
        (t["faults"], ", ".join(sut["faults"]) or t["none"]),
        (t["harness"], f"{doc['harness']['name']} {doc['harness']['version']}"),
        (t["started"], doc["started_at"]),
        (t["finished"], doc["finished_at"]),
    ]
    if campaign.get("selection"):
        facts.append((t["selection"], campaign["selection"]))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    banner = ""
    if not campaign.get("complete", True):
        errors = "".join(f"<li>{_e(err)}</li>" for err in campaign.get("errors", []))
        banner = f'<div class="alert"><p>{_e(t["incomplete"])}</p><ul>{errors}</ul></div>'
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in campaign.get("notes", []))
    return f'<header><h1>{_e(t["title"])}</h1>{banner}<dl class="facts">{dl}</dl>{notes}</header>'


def _summary(doc: Mapping[str, Any], t: Mapping[str, str]) -> str:
    counts = doc.get("summary", {}).get("verdicts", {})
    items = "".join(
        f"<li>{_badge('verdict', v, t[f'verdict.{v}'])} <strong>{int(counts.get(v, 0))}</strong></li>"
        for v in VERDICT_ORDER
    )
    return f'<section id="summary"><h2>{_e(t["summary"])}</h2><ul class="counts">{items}</ul></section>'


def _matrix(doc: Mapping[str, Any], t: Mapping[str, str], lang: str) -> str:
    by_catalogue: dict[str, list[Mapping[str, Any]]] = {}
    for req in doc["requirements"]:
        by_catalogue.setdefault(req["catalogue"], []).append(req)
    sections = []
    for cat in doc["catalogues"]:
        rows = [_matrix_row(req, t, lang) for req in by_catalogue.get(cat["id"], [])]
        title = _localized(cat.get("titles"), lang) or cat["title"]
        sections.append(
            f"<h3>{_e(title)} <small>v{_e(cat['version'])}</small></h3>"
            + _table(
                [t["requirement"], t["wording"], t["level"], t["method"], t["verdict"], t["scenarios"]],
                rows,
                "matrix",
            )
        )
    return f'<section id="matrix"><h2>{_e(t["matrix"])}</h2>{"".join(sections)}</section>'


def _matrix_row(req: Mapping[str, Any], t: Mapping[str, str], lang: str) -> str:
    links = "".join(
        f'<li><a href="#{_anchor("s", nodeid)}">{_e(nodeid)}</a></li>' for nodeid in req["scenarios"]
    )
    attestation = ""
    if "attestation" in req:
        a = req["attestation"]
        attestation = (
            f'<div class="attestation">{_e(t["attested_by"])} {_e(a["by"])}, {_e(a["date"])} — '
            f"{_e(a['evidence'])}</div>"
        )
    blocked = _blockages(req, t)
    verdict = req["verdict"]
    level = req.get("level", "")
    method = req.get("method", "")
    return (
        f'<tr id="{_anchor("r", req["id"])}" class="row-{_e(verdict)}">'
        f'<td class="rid">{_e(req["id"])}</td>'
        f"<td>{_e(_localized(req.get('title'), lang))}{attestation}{blocked}</td>"
        f"<td>{_e(t.get(f'level.{level}', level))}</td>"
        f"<td>{_e(t.get(f'method.{method}', method))}</td>"
        f"<td>{_badge('verdict', verdict, t[f'verdict.{verdict}'])}</td>"
        f'<td><ul class="plain">{links}</ul></td></tr>'
    )


def _blockages(req: Mapping[str, Any], t: Mapping[str, str]) -> str:
    """Why an inconclusive requirement could not be judged, and the defect behind it."""
    items, seen = [], set()
    for b in req.get("inconclusive", []):
        key = (b["reason"], b["root_cause"], b.get("failed_in"))
        if key in seen:
            continue  # several scenarios stopped by the same defect: one line says it
        seen.add(key)
        where = (
            f' — {_e(t["failed_in"])} <a href="#{_anchor("s", b["failed_in"])}">{_e(b["failed_in"])}</a>'
            if b.get("failed_in")
            else ""
        )
        items.append(
            f"<li>{_e(b['reason'])}<br><small>{_e(t['root_cause'])} : <code>{_e(b['root_cause'])}</code>"
            f"{where}</small></li>"
        )
    if not items:
        return ""
    return f'<div class="blocked"><strong>{_e(t["blocked"])}</strong><ul>{"".join(items)}</ul></div>'


def _scenarios(doc: Mapping[str, Any], t: Mapping[str, str], lang: str) -> str:
    exchanges = doc.get("exchanges", {})
    blocks = [_scenario_block(s, t, lang, exchanges) for s in doc["scenarios"]]
    return f'<section id="scenarios"><h2>{_e(t["scenarios"])}</h2>{"".join(blocks)}</section>'


def _exchange_line(ref: str, exchanges: Mapping[str, Any]) -> str:
    """An evidence reference as the reader needs it: who was called, how, and what came back."""
    summary = exchanges.get(ref)
    if not summary:
        return f"<code>{_e(ref)}</code>"
    outcome = summary.get("status") if summary.get("status") is not None else summary.get("error") or "—"
    return (
        f"<code>{_e(ref)}</code> {_e(summary.get('counterpart'))}: {_e(summary.get('method'))} "
        f"<code>{_e(summary.get('url'))}</code> → {_e(outcome)}"
    )


def _scenario_block(
    s: Mapping[str, Any], t: Mapping[str, str], lang: str, exchanges: Mapping[str, Any] | None = None
) -> str:
    exchanges = exchanges or {}
    rows = []
    for c in s["checks"]:
        if c.get("status") == "inconclusive":
            mark = _badge("check", "inc", t["inc"])
        elif c["ok"]:
            mark = _badge("check", "ok", t["ok"])
        elif c.get("severity") == "warning":
            mark = _badge("check", "warn", t["warn"])
        else:
            mark = _badge("check", "ko", t["ko"])
        evidence = "".join(
            f"<li>{_exchange_line(ref, exchanges)}</li>" for ref in c.get("evidence", []) if ref
        )
        title = _localized(c.get("title"), lang)
        basis = ""
        if c.get("basis"):
            strength = t.get(f"strength.{c.get('strength')}", c.get("strength", ""))
            basis = f'<div class="basis">{_e(t["basis"])} : {_e(c["basis"])} — {_e(strength)}</div>'
        if c.get("prerequisite"):
            basis += f'<div class="basis">{_e(t["prerequisite"])}</div>'
        rows.append(
            f"<tr><td>{_e(title)}<br><code>{_e(c.get('name', ''))}</code>{basis}</td>"
            f'<td><a href="#{_anchor("r", c["requirement"])}">{_e(c["requirement"])}</a></td>'
            f'<td>{mark}</td><td class="msg">{_e(c["message"])}</td>'
            f'<td><ul class="plain">{evidence}</ul></td></tr>'
        )
    checks = (
        _table([t["check"], t["requirement"], t["outcome"], t["message"], t["evidence"]], rows, "checks")
        if rows
        else f"<p>{_e(t['no_check'])}</p>"
    )
    outcome = s["outcome"]
    if s.get("needs_sut", True):
        traffic = f"{_e(t['exchanges'])} : {int(s.get('sut_exchanges', 0))}"
    else:
        traffic = _e(t["self_check"])
    detail = f'<pre class="detail">{_e(s["detail"])}</pre>' if s.get("detail") else ""
    return (
        f'<article id="{_anchor("s", s["nodeid"])}" class="scenario">'
        f"<h3>{_badge('outcome', outcome, t[f'outcome.{outcome}'])} {_e(s.get('title') or s['nodeid'])}</h3>"
        f'<p class="meta"><code>{_e(s["nodeid"])}</code> · {_e(t["duration"])} {float(s["duration_s"]):.3f} s'
        f" · {traffic}</p>"
        f"{detail}{checks}</article>"
    )


def _legend(t: Mapping[str, str]) -> str:
    items = "".join(
        f"<li>{_badge('verdict', v, t[f'verdict.{v}'])} {_e(t[f'rule.{v}'])}</li>"
        for v in ("fail", "pass", "inconclusive", "not_applicable", "manual", "attested", "not_tested")
    )
    items += f"<li>{_badge('outcome', 'not_run', t['outcome.not_run'])} {_e(t['rule.not_run'])}</li>"
    items += f"<li>{_e(t['rule.prerequisite'])}</li>"
    return f'<footer id="legend"><h2>{_e(t["legend"])}</h2><ul class="plain">{items}</ul></footer>'
