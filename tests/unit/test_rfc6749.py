"""HTTP Basic client authentication (RFC 6749 §2.3.1), shared by the simulated PSC and API AS."""

from __future__ import annotations

import base64

import pytest

from conformance.standards.rfc6749 import basic_credentials


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("Bearer abc", None),
        (basic("lps1:s3cret"), ("lps1", "s3cret")),
        (basic("a+b%3Ac:x%2By"), ("a b:c", "x+y")),  # both parts are form-encoded
        (basic("lps1"), ("lps1", "")),
        ("basic " + base64.b64encode(b"c:s").decode(), ("c", "s")),  # the scheme is case-insensitive
        ("Basic not-base64!", ("", "")),
    ],
)
def test_basic_credentials(header: str | None, expected: tuple[str, str] | None) -> None:
    assert basic_credentials(header) == expected
