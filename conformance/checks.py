"""Small named checks, each tagged with the requirements it enforces (the OpenID suite's conditions).

A scenario does not assert: it records checks. Checks are declared once, at module level,
so the same check reads the same everywhere and the report can name it in French or English::

    TLS_AT_LEAST_1_2 = Check(
        "tls_at_least_1_2", ("IG-SEC-01",),
        fr="La connexion négocie TLS 1.2 ou plus", en="The connection negotiates TLS 1.2 or higher",
    )

    @pytest.mark.verifies("IG-SEC-01")
    def test_tls_floor(checks, ...):
        checks.record(TLS_AT_LEAST_1_2, version in ("TLSv1.2", "TLSv1.3"), f"negotiated {version}")
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.verdicts import CheckResult, Severity


class CheckFailed(AssertionError):
    """Raised by `CheckRecorder.require` to stop a scenario whose next steps would be meaningless."""


@dataclass(frozen=True)
class Check:
    name: str
    requirements: tuple[str, ...]
    fr: str
    en: str
    severity: Severity = Severity.FAILURE

    def __post_init__(self) -> None:
        if not self.requirements:
            raise ValueError(f"check {self.name!r} enforces no requirement")

    @property
    def title(self) -> dict[str, str]:
        return {"fr": self.fr, "en": self.en}


@dataclass
class CheckRecorder:
    """What a scenario checked, and how much it talked to the system under test."""

    declared: frozenset[str]
    results: list[CheckResult] = field(default_factory=list)
    sut_exchanges: int = 0

    def record(self, check: Check, ok: bool, message: str = "", *, evidence: Iterable[str] = ()) -> bool:
        """Record one evaluation and return `ok`, so a scenario can branch on it."""
        undeclared = [r for r in check.requirements if r not in self.declared]
        if undeclared:
            # Coverage is computed from the declarations: a check outside them would be invisible.
            raise ValueError(
                f"check {check.name!r} enforces {', '.join(undeclared)}, which the scenario does not "
                f"declare: add it to @pytest.mark.verifies(...)"
            )
        self.results.append(
            CheckResult(
                name=check.name,
                requirements=check.requirements,
                ok=bool(ok),
                severity=check.severity,
                message=message,
                title=check.title,
                evidence=tuple(evidence),
            )
        )
        return bool(ok)

    def require(self, check: Check, ok: bool, message: str = "", *, evidence: Iterable[str] = ()) -> None:
        """Record, and stop the scenario if the check failed."""
        if not self.record(check, ok, message, evidence=evidence):
            raise CheckFailed(f"{check.name}: {message}")

    def exchanged_with_sut(self, count: int = 1) -> None:
        """Called by the harness's clients and counterparts for each exchange with the SUT."""
        self.sut_exchanges += count

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok and r.severity is Severity.FAILURE]
