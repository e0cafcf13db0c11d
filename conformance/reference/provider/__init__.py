"""The reference data provider (provider SUT): an authorization server and the API PSC it protects.

The authorization server exchanges PSC access tokens for certificate-bound API tokens (RFC 8693,
client authenticated by mTLS, subject token introspected at PSC); the resource server serves
`POST /mockservice/apipsc/signsessiondata` to callers presenting such a token over mTLS with the
certificate it is bound to. It is written independently of the harness's counterparts (it shares
only the fault/variant registry with them), so the provider campaign judges it like any vendor's.
Faults (`faults.py`) and allowed variants (`variants.py`) replace its named seams, one instance at
a time; the correct behaviour is in each seam's docstring.
"""

from typing import Final

LOGGER: Final = "conformance.reference.provider"  # the provider's log: its listeners' lines and its own
