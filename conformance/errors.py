"""Errors a user can fix: bad configuration, bad attestation file, bad option."""


class UsageError(Exception):
    """Bad input from the user. The message says what is wrong and what to do; exit status 2."""
