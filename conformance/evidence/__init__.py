"""Evidence recorder: every HTTP exchange between the harness and the SUT, in both directions.

Counterparts record what the SUT sent them through ``TLSServer(observer=recorder.server_observer("psc"))``;
the harness records its own calls to the SUT through ``recording_client(recorder, verify=..., timeout=...)``.
Raw values stay in memory for scenarios to judge; ``to_json`` / ``to_har`` / ``write_evidence`` export a
redacted copy for auditors (rules in `conformance.evidence.redact`).
"""

from conformance.evidence.client import EXCHANGE_ID, RecordingTransport, describe_error, recording_client
from conformance.evidence.export import HAR_NAME, JSON_NAME, to_har, to_json, write_evidence
from conformance.evidence.model import TO_HARNESS, TO_SUT, Direction, Exchange, Headers, TLSDetails
from conformance.evidence.recorder import NO_ANSWER, EvidenceRecorder, ServerObserver
from conformance.evidence.redact import (
    DEFAULT_MAX_BODY,
    PRIVATE_KEY_REDACTED,
    REDACTED,
    SECRET_FIELDS,
    shorten_jwt,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "EXCHANGE_ID",
    "HAR_NAME",
    "JSON_NAME",
    "NO_ANSWER",
    "PRIVATE_KEY_REDACTED",
    "REDACTED",
    "SECRET_FIELDS",
    "TO_HARNESS",
    "TO_SUT",
    "Direction",
    "EvidenceRecorder",
    "Exchange",
    "Headers",
    "RecordingTransport",
    "ServerObserver",
    "TLSDetails",
    "describe_error",
    "recording_client",
    "shorten_jwt",
    "to_har",
    "to_json",
    "write_evidence",
]
