"""Two campaigns on one host at once (two CI jobs): each embedded SUT and its counterparts on ports of
their own, no shared file; both complete and pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conformance.campaign.results import validate_results
from conformance.cli import main

BOUND_S = 240  # two provider campaigns (about 10 s each alone) sharing a busy 2-core machine


def test_two_embedded_campaigns_at_once_both_pass(tmp_path: Path) -> None:
    outputs = [tmp_path / "job-a", tmp_path / "job-b"]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "conformance", "run", "--role", "provider", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for out in outputs
    ]
    try:
        statuses = [run.wait(timeout=BOUND_S) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
    errors = [run.stderr.read().decode(errors="replace")[-2000:] if run.stderr else "" for run in runs]
    assert statuses == [0, 0], errors
    docs: list[dict[str, Any]] = [
        json.loads((out / "results.json").read_text(encoding="utf-8")) for out in outputs
    ]
    for doc, out in zip(docs, outputs, strict=True):
        validate_results(doc)
        assert doc["campaign"]["complete"] is True and doc["campaign"]["errors"] == []
        assert "not_run" not in doc["summary"]["outcomes"] and "error" not in doc["summary"]["outcomes"]
        assert main(["verify", str(out)]) == 0
    assert docs[0]["sut"]["base_url"] != docs[1]["sut"]["base_url"], "each its own reference provider"
