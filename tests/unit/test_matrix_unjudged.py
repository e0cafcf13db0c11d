"""A matrix that finds a requirement unjudged says why: each blockage's root cause, one line each."""

from __future__ import annotations

from conformance.campaign.matrix import _unjudged


def test_each_blockage_is_one_line_with_its_root_cause() -> None:
    doc = {
        "requirements": [
            {"id": "EDC-14", "verdict": "pass"},
            {
                "id": "IG-SEC-08",
                "verdict": "inconclusive",
                "inconclusive": [
                    {
                        "scenario": "scenarios/consumer/test_transport.py::test_mtls",
                        "condition": "client_certificate_presented",
                        "root_cause": "the SUT never\n  contacted the listener",
                    }
                ],
            },
        ]
    }
    assert _unjudged(doc) == [
        "IG-SEC-08 test_mtls :: client_certificate_presented: the SUT never contacted the listener"
    ]
