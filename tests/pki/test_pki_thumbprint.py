"""RFC 8705 thumbprints and the ANS hex variant, on fixed inputs."""

from __future__ import annotations

import base64
import hashlib

from conformance.standards.rfc8705 import classify_thumbprint, x5t_s256, x5t_s256_ans_hex

DER = b"not really a certificate, the thumbprint only hashes bytes"


def test_rfc8705_form() -> None:
    digest = hashlib.sha256(DER).digest()
    value = x5t_s256(DER)
    assert len(value) == 43 and "=" not in value and "+" not in value and "/" not in value
    assert base64.urlsafe_b64decode(value + "=") == digest


def test_ans_hex_form() -> None:
    value = x5t_s256_ans_hex(DER)
    assert value.endswith("==") and len(value) == 88
    assert base64.b64decode(value).decode() == hashlib.sha256(DER).hexdigest()


def test_ig_example_shape() -> None:
    """The IG `cnf` example is base64 of a lowercase hex digest: same shape as our ANS form."""
    example = "YTIzYThiYThjNWNmNTYyZWVkMjE3YmRhM2Y1OWM1MzA3NzAyOWQyMWY4YzY4MjZiYzU2OGY4ODU0ODZhN2RhMA=="
    decoded = base64.b64decode(example).decode()
    assert len(decoded) == 64 and decoded == decoded.lower() and int(decoded, 16) >= 0
    assert len(example) == len(x5t_s256_ans_hex(DER))


def test_classify() -> None:
    assert classify_thumbprint(x5t_s256(DER), DER) == "rfc8705"
    assert classify_thumbprint(x5t_s256_ans_hex(DER), DER) == "ans-hex"
    assert classify_thumbprint(x5t_s256(DER) + "=", DER) is None  # padding is not RFC 8705
    assert classify_thumbprint(x5t_s256(b"other"), DER) is None
    assert classify_thumbprint("", DER) is None
    assert classify_thumbprint("é", DER) is None
