"""The two roles a system under test can play in the trust space, and what each role brings.

Each role has one home, `conformance.roles.<role>`: its bench (what scenarios drive), its conditions by
theme, and its bring-up (`bringup.py`: the counterparts it needs, and the SUT itself, embedded or
external). The campaign plugin finds the bring-up here by role; nothing else in the campaign machinery
knows what a proxy or a provider is.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from conformance.config import Config
    from conformance.evidence import EvidenceRecorder
    from conformance.pki import TestPKI


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


@dataclass(frozen=True)
class SutEndpoints:
    """Where the system under test answers, once it is up, and what it declared about itself."""

    name: str
    base_url: str  # what the report shows: the proxy's base URL, or the provider's API
    ca_file: Path | None
    declared: Mapping[str, float] = field(default_factory=dict)
    embedded: bool = False


@dataclass(frozen=True)
class BringUpRequest:
    """What a role's bring-up is given by the plugin: the resolved campaign, nothing else."""

    config: Config
    output: Path  # the run's directory (the embedded SUT's log goes there)
    faults: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()


class BringUp(Protocol):
    """The module `conformance.roles.<role>.bringup`."""

    def counterparts(
        self, request: BringUpRequest, pki: TestPKI, evidence: EvidenceRecorder
    ) -> AbstractContextManager[Any]: ...

    def sut(self, request: BringUpRequest, counterparts: Any) -> AbstractContextManager[SutEndpoints]: ...


def external_ca_file(config: Config) -> Path | None:
    """The trust anchor of an external SUT's server certificate: `[sut] ca_file`, else the test PKI's."""
    if config.sut.ca_file is not None:
        return config.sut.ca_file
    return config.campaign.pki_dir / "ca-bundle.pem" if config.campaign.pki_dir is not None else None


def configured_client_secrets(config: Config) -> Mapping[str, str] | None:
    """The PSC client secrets an external SUT was configured with (from the PKI directory), so that the
    simulated PSC accepts them; None (freshly minted ones) for an embedded SUT."""
    if not config.external or config.campaign.pki_dir is None:
        return None
    from conformance.counterparts.layout import read_client_secrets

    return read_client_secrets(config.campaign.pki_dir)


def bring_up(role: Role) -> BringUp:
    """The bring-up of `role` (imported when a campaign of that role starts)."""
    module: BringUp = importlib.import_module(f"conformance.roles.{Role(role).value}.bringup")
    return module


__all__ = [
    "BringUp",
    "BringUpRequest",
    "Role",
    "SutEndpoints",
    "bring_up",
    "configured_client_secrets",
    "external_ca_file",
]
