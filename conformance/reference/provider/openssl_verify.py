"""Certificate-verification errors a listener tolerates: how the faults make the handshake lenient.

Some defects of a real provider live in its TLS stack: a server that does not check the client
certificate's purpose (extendedKeyUsage), or one that accepts any certificate and reads it anyway.
Python's `ssl` module cannot express either: with `CERT_OPTIONAL` a certificate that fails
verification aborts the handshake. OpenSSL can, through a verification callback; this module installs
one on an `ssl.SSLContext` with ctypes, through the `SSL_CTX` pointer that CPython keeps right after
the object header of its `_ssl._SSLContext`. Only the faults use it; the correct provider never does.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import ssl
import sys
from collections.abc import Set
from typing import Final

from conformance.reference.provider import LOGGER

log = logging.getLogger(LOGGER)

# OpenSSL's X509_V_ERR_* codes the faults tolerate (include/openssl/x509_vfy.h).
X509_V_ERR_INVALID_PURPOSE: Final = 26

_VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_SSL_VERIFY_MODES: Final = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}
_KEPT_ALIVE: Final = "_psc_conformance_verify_callback"


class VerifyOverrideUnavailable(RuntimeError):
    """This interpreter's ssl module cannot be reached through ctypes (not CPython, or no symbols)."""


@functools.cache
def _libssl() -> ctypes.CDLL:
    """The OpenSSL that CPython's `_ssl` is linked to (looked up through `_ssl` itself)."""
    import _ssl

    try:
        library = ctypes.CDLL(getattr(_ssl, "__file__", None))
        library.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        library.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        library.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VerifyCallback]
        library.SSL_CTX_set_verify.restype = None
        library.X509_STORE_CTX_get_error.argtypes = [ctypes.c_void_p]
        library.X509_STORE_CTX_get_error.restype = ctypes.c_int
    except (OSError, AttributeError) as exc:
        raise VerifyOverrideUnavailable(f"OpenSSL's verification API is not reachable: {exc}") from None
    return library


def _ssl_ctx(context: ssl.SSLContext) -> int:
    """The `SSL_CTX *` of `context`, checked against the verify mode Python reports for it."""
    if sys.implementation.name != "cpython":
        raise VerifyOverrideUnavailable("needs CPython's _ssl module")
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    library = _libssl()
    if not pointer or library.SSL_CTX_get_verify_mode(pointer) & 3 != _SSL_VERIFY_MODES[context.verify_mode]:
        raise VerifyOverrideUnavailable("the SSL context's layout is not the expected one")
    return int(pointer)


def tolerate_verify_errors(context: ssl.SSLContext, errors: Set[int] | None) -> None:
    """Let the handshake go on despite the verification errors `errors` (None: any error at all).

    Set the context's verify mode before calling this; a later change of the mode keeps the callback.
    """
    library = _libssl()
    pointer = _ssl_ctx(context)

    def verify(preverified: int, store: int | None) -> int:
        if preverified:
            return 1
        error = library.X509_STORE_CTX_get_error(store)
        tolerated = errors is None or error in errors
        log.debug("client certificate verification error %d %s", error, "ignored" if tolerated else "fatal")
        return 1 if tolerated else 0

    callback = _VerifyCallback(verify)
    setattr(context, _KEPT_ALIVE, callback)  # OpenSSL holds a raw pointer to it: keep it alive
    library.SSL_CTX_set_verify(pointer, library.SSL_CTX_get_verify_mode(pointer), callback)


__all__ = ["X509_V_ERR_INVALID_PURPOSE", "VerifyOverrideUnavailable", "tolerate_verify_errors"]
