"""The counterparts' signing keys: one per purpose and algorithm, generated once per process.

An RSA-2048 key costs 25-250 ms of CPU to generate, and a process may build its counterparts many times
(a test suite builds them per test: 155 keys, 11 s of CPU, for tests/counterparts alone). A campaign
builds each counterpart once, so sharing a key between two counterparts of one purpose changes nothing a
SUT can see. Purposes never share: PSC's published key, the impostor that signs tampered tokens under
PSC's kid, the API authorization server's key and the foreign key its JWKS does not list each get
their own, so a token signed for one purpose never verifies under another's key.
"""

from __future__ import annotations

import threading
from enum import StrEnum

from conformance.standards.jose import Alg, SigningKey


class KeyPurpose(StrEnum):
    """What a key signs; two purposes never get the same key."""

    PSC = "psc"  # PSC's ID and access tokens, published in its JWKS
    PSC_IMPOSTOR = "psc-impostor"  # tokens PSC did not sign (tampered, foreign): never published
    API_AS = "api-as"  # the API authorization server's access tokens, published in its JWKS
    API_AS_FOREIGN = "api-as-foreign"  # tokens under a kid the authorization server's JWKS does not list
    API_SESSION_DATA = "api-session-data"  # the API PSC's signature of the session data


_keys: dict[tuple[KeyPurpose, Alg], SigningKey] = {}
_lock = threading.Lock()  # counterparts start in concurrent scenarios: every caller must get the same key


def shared_signing_key(purpose: KeyPurpose, alg: Alg) -> SigningKey:
    """The process's key for `purpose` and `alg`, generated on first use."""
    with _lock:
        key = _keys.get((purpose, alg))
        if key is None:
            key = _keys[purpose, alg] = SigningKey.generate(alg)
        return key


# The RSA keys the counterparts use with their default algorithms (PSC's, and the API authorization
# server's, which always signs RS256): what `generate_rsa_keys_ahead` makes.
_RSA_DEFAULTS: tuple[tuple[KeyPurpose, Alg], ...] = (
    (KeyPurpose.PSC, "RS256"),
    (KeyPurpose.PSC_IMPOSTOR, "RS256"),
    (KeyPurpose.API_AS, "RS256"),
    (KeyPurpose.API_AS_FOREIGN, "RS256"),
)


def generate_rsa_keys_ahead() -> None:
    """Generate the counterparts' default RSA keys now (25-250 ms of CPU each, mostly outside the
    interpreter lock): a process that will start counterparts calls it in a thread while it starts."""
    for purpose, alg in _RSA_DEFAULTS:
        shared_signing_key(purpose, alg)
