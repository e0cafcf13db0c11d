"""The evidence bundle's own file names: what `run` must know before a campaign, without loading the
signing code (cryptography, PyJWT) that only the run's end needs."""

from __future__ import annotations

MANIFEST = "manifest.json"
SIGNATURE = "manifest.jws"
PUBLIC_KEY = "manifest-key.pem"
# The bundle's own files, at its top level only: a `manifest.json` deeper down is evidence like any other.
BUNDLE_FILES = frozenset({MANIFEST, SIGNATURE, PUBLIC_KEY})
