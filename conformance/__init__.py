"""psc-conformance: a conformance harness for the Pro Santé Connect trust space."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("psc-conformance")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
