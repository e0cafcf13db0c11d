"""Conditions: the small named judgements a campaign is made of (the OpenID Foundation suite's model).

A condition is a pure function from evidence to a `Judgement`, declared once in a module by theme
with what makes it a rule:

- its **requirements** (the catalogue ids it speaks for);
- its **basis**: the source and clause that states the rule (an RFC section, an IG page, a
  Référentiel id, the upstream OpenAPI document), or "project reading" when the harness reads the
  sources more strictly than they are written;
- its **strength**: a source's MUST fails the requirement; a SHOULD, or a project reading, only warns
  (and its message says what goes beyond the sources);
- its **precondition**: what must have happened on the wire for it to be judged at all. When that
  did not happen, the judgement is `inconclusive` with the reason — never a failure of this rule.

```python
@condition(
    "ciba_acr_values_eidas1", ("EXI PSC 16",),
    basis="Référentiel PSC v1.8, EXI PSC 16", strength=Strength.MUST,
    precondition="the SUT sent a CIBA request to PSC",
    fr="La demande CIBA porte acr_values=eidas1", en="The CIBA request carries acr_values=eidas1",
)
def ciba_acr_values_eidas1(requests: Sequence[Observation]) -> Judgement:
    if not requests:
        return inconclusive("no CIBA request reached PSC")
    ...
```

Scenarios never judge: they arrange, act, and hand the evidence to conditions through their
`checks` recorder (`conformance.campaign.checks.CheckRecorder`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ParamSpec

from conformance.campaign.verdicts import Severity, Status

P = ParamSpec("P")


class Strength(StrEnum):
    """How binding the rule is, which decides what its failure means."""

    MUST = "must"  # a source's MUST / SHALL / "obligatoire": a failure fails the requirement
    SHOULD = "should"  # a source's SHOULD / recommendation: a failure is a warning
    READING = "reading"  # the project's reading, stricter than the sources: a failure is a warning

    @property
    def severity(self) -> Severity:
        return Severity.FAILURE if self is Strength.MUST else Severity.WARNING


@dataclass(frozen=True)
class Judgement:
    """What a condition concluded from the evidence it was given."""

    status: Status
    message: str
    evidence: tuple[str, ...] = ()
    root_cause: str = ""  # for `inconclusive`: what blocked the judgement, when known

    def __bool__(self) -> bool:
        return self.status is Status.PASSED

    @property
    def inconclusive(self) -> bool:
        return self.status is Status.INCONCLUSIVE


def passed(message: str = "", evidence: Iterable[str | None] = ()) -> Judgement:
    return Judgement(Status.PASSED, message, _refs(evidence))


def failed(message: str, evidence: Iterable[str | None] = ()) -> Judgement:
    return Judgement(Status.FAILED, message, _refs(evidence))


def judged(ok: bool, message: str, evidence: Iterable[str | None] = ()) -> Judgement:
    """`passed` or `failed` with the same message: for rules whose evidence reads the same either way."""
    return Judgement(Status.PASSED if ok else Status.FAILED, message, _refs(evidence))


def inconclusive(reason: str, evidence: Iterable[str | None] = (), *, root_cause: str = "") -> Judgement:
    """The precondition did not happen: nothing can be said about the rule, for or against."""
    return Judgement(Status.INCONCLUSIVE, reason, _refs(evidence), root_cause)


def _refs(evidence: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(ref for ref in evidence if ref)


@dataclass(frozen=True)
class Condition:
    """One rule, judged by `judge`; call the condition with the evidence to get a `Judgement`."""

    name: str
    requirements: tuple[str, ...]
    basis: str
    strength: Strength
    fr: str
    en: str
    judge: Callable[..., Judgement] = field(repr=False, compare=False)
    precondition: str = ""
    module: str = ""

    def __post_init__(self) -> None:
        if not self.requirements:
            raise ValueError(f"condition {self.name!r} enforces no requirement")
        if not self.basis.strip():
            raise ValueError(f"condition {self.name!r} names no basis (source and clause)")

    def __call__(self, *args: Any, **kwargs: Any) -> Judgement:
        judgement = self.judge(*args, **kwargs)
        if not isinstance(judgement, Judgement):
            raise TypeError(f"condition {self.name!r} returned {type(judgement).__name__}, not a Judgement")
        return judgement

    @property
    def severity(self) -> Severity:
        return self.strength.severity

    def bound(self, *requirements: str) -> Condition:
        """The same rule, speaking for the requirements a scenario names (the OpenID suite binds
        requirement ids at the call site): one error-descriptor rule serves EDC-03, -04, -05, -09."""
        return replace(self, requirements=tuple(requirements))

    @property
    def title(self) -> dict[str, str]:
        return {"fr": self.fr, "en": self.en}

    @property
    def theme(self) -> str:
        return self.module.rsplit(".", 1)[-1]

    @property
    def role(self) -> str:
        """`consumer` or `provider` for a role's condition, `harness` for a self-check."""
        parts = self.module.split(".")
        return parts[2] if parts[:2] == ["conformance", "roles"] and len(parts) > 2 else "harness"


_REGISTRY: dict[str, Condition] = {}


def condition(
    name: str,
    requirements: tuple[str, ...],
    *,
    basis: str,
    strength: Strength,
    fr: str,
    en: str,
    precondition: str = "",
) -> Callable[[Callable[P, Judgement]], Condition]:
    """Declare a condition; its name is unique across the harness (it is what reports cite)."""

    def register(judge: Callable[P, Judgement]) -> Condition:
        made = Condition(
            name=name,
            requirements=tuple(requirements),
            basis=basis,
            strength=strength,
            fr=fr,
            en=en,
            judge=judge,
            precondition=precondition,
            module=judge.__module__,
        )
        existing = _REGISTRY.get(name)
        if existing is not None and existing.module != made.module:
            raise ValueError(f"condition {name!r} is declared twice ({existing.module}, {made.module})")
        _REGISTRY[name] = made
        return made

    return register


def registered() -> Iterator[Condition]:
    """Every condition declared so far, in declaration order (call `catalogue()` to import them all)."""
    return iter(list(_REGISTRY.values()))


# -- the catalogue of every condition ----------------------------------------------------------------

# The packages that declare conditions: the harness's self-checks and each role's themes.
CONDITION_PACKAGES = (
    "conformance.campaign.harness",
    "conformance.roles.shared",
    "conformance.roles.consumer.conditions",
    "conformance.roles.provider.conditions",
)


def catalogue() -> list[Condition]:
    """Every condition of the harness, theme by theme (importing each theme module registers it)."""
    import importlib
    import pkgutil

    for name in CONDITION_PACKAGES:
        try:
            package = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        for module in pkgutil.iter_modules(getattr(package, "__path__", [])):
            if not module.name.startswith("_"):
                importlib.import_module(f"{name}.{module.name}")
    ours = [c for c in registered() if c.module.startswith(CONDITION_PACKAGES)]  # not a test's own
    return sorted(ours, key=lambda c: (c.role, c.theme, c.name))


STRENGTH_WORDS = {
    Strength.MUST: "MUST → fail",
    Strength.SHOULD: "SHOULD → warning",
    Strength.READING: "project reading → warning",
}


def markdown() -> str:
    """The table of every condition with its basis, as docs/verdicts.md shows it (kept in sync by a test)."""
    lines = [
        "| role | theme | condition | requirements | strength | basis | judged only if |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in catalogue():
        cells = [
            c.role,
            c.theme,
            f"`{c.name}`",
            ", ".join(c.requirements),
            STRENGTH_WORDS[c.strength],
            c.basis,
            c.precondition or "—",
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines) + "\n"
