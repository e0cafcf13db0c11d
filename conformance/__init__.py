"""psc-conformance: a conformance harness for the Pro Santé Connect trust space."""

# A constant, equal to pyproject.toml's `version` (tests/unit/test_version.py keeps them equal): every
# process of a campaign imports this package, and reading the installed metadata (`importlib.metadata`)
# cost each of them 0.05 s of CPU.
__version__ = "0.1.0"

__all__ = ["__version__"]
