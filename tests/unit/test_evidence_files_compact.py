"""evidence.json and evidence.har are written compact (json's C encoder), and say what the exports say."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.evidence import TO_SUT, Exchange, to_har, to_json, write_evidence


def exchanges() -> list[Exchange]:
    return [
        Exchange(
            counterpart="sut",
            direction=TO_SUT,
            method="POST",
            url=f"https://127.0.0.1:8443/api/{n}",
            started_at=1_764_000_000.0 + n,
            duration_s=0.004,
            request_headers=[("Content-Type", "application/json")],
            request_body=b'{"patient":"Ren\xc3\xa9e"}',
            status=200,
            response_headers=[("Content-Type", "application/json")],
            response_body=b'{"ok":true}',
            scenario="scenarios/consumer/test_x.py::test_y",
            id=f"x{n}",
        )
        for n in range(3)
    ]


def test_both_files_are_one_compact_line_holding_the_exports(tmp_path: Path) -> None:
    items = exchanges()
    json_path, har_path = write_evidence(items, tmp_path)
    for path in (json_path, har_path):
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") == 1 and text.endswith("}\n")  # one line, no indentation
        assert '": ' not in text and '", "' not in text  # no separator spaces either
        assert "Renée" in text  # as written, not escaped
    assert json.loads(json_path.read_text(encoding="utf-8"))["exchanges"] == to_json(items)
    assert json.loads(har_path.read_text(encoding="utf-8")) == to_har(items)


def test_files_joined_from_entries_are_byte_for_byte_json_dumps_of_the_documents(tmp_path: Path) -> None:
    """The files are joined from each exchange's entries (serialized ahead, while the campaign waits):
    the same bytes as `json.dumps` of the whole documents, with no exchange as with several."""
    import conformance
    from conformance.evidence.export import REDACTION_NOTE

    def dumped(document: object) -> str:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"

    for count in (0, 1, 3):
        items = exchanges()[:count]
        json_path, har_path = write_evidence(items, tmp_path / str(count))
        document = {
            "format": "psc-conformance-evidence",
            "version": 1,
            "generator": {"name": "psc-conformance", "version": conformance.__version__},
            "redaction": REDACTION_NOTE,
            "exchanges": to_json(items),
        }
        assert json_path.read_text(encoding="utf-8") == dumped(document)
        assert har_path.read_text(encoding="utf-8") == dumped(to_har(items))
