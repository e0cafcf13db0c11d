"""The two roles a system under test can play in the trust space."""

from enum import StrEnum


class Role(StrEnum):
    """A SUT role, named after what the harness judges (BRIEF §2).

    `consumer` is a Fournisseur de Service (the FS column of the referential),
    `provider` a Fournisseur de Données (the FD column).
    """

    CONSUMER = "consumer"
    PROVIDER = "provider"

    @property
    def referential_column(self) -> str:
        return "FS" if self is Role.CONSUMER else "FD"
