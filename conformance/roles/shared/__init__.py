"""Conditions that judge either role the same way (the SUT's own TLS endpoints)."""
