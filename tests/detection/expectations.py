"""What every matrix campaign must show, whatever the role: one place for both roles' matrices."""

from __future__ import annotations

from conformance.campaign.matrix import CampaignOutcome
from conformance.requirements import requirement_index
from conformance.requirements.model import Method
from conformance.roles import Role


def assert_reference_is_clean(reference: CampaignOutcome, role: Role) -> None:
    """The reference SUT fails nothing, lets every condition be judged, and leaves no applicable
    automatic requirement untested."""
    assert reference.exit_status == 0, reference.errors
    assert reference.failing == set(), "\n".join(reference.failed_checks)
    unjudged = "\n".join(reference.unjudged)
    assert reference.inconclusive == set(), (
        f"the reference {role.value} must let every condition be judged\n{unjudged}"
    )
    index = requirement_index()
    untested = {
        rid
        for rid, verdict in reference.verdicts.items()
        if verdict == "not_tested"
        and index[rid].method_for(role) is Method.AUTOMATIC
        and index[rid].applies(role)
    }
    assert untested == set()


def assert_fault_fails_exactly_its_requirements(outcome: CampaignOutcome, fault: str) -> None:
    assert not outcome.errors, outcome.errors
    why = "\n".join(outcome.failed_checks)
    unjudged = "\n".join(outcome.unjudged)
    assert outcome.missed == set(), f"{fault}: the campaign missed {sorted(outcome.missed)}\n{unjudged}"
    assert outcome.unrelated == set(), (
        f"{fault}: unrelated requirements failed {sorted(outcome.unrelated)}\n{why}"
    )
    # exit 1 exactly when a requirement fails; a warning (a SHOULD, a recommendation) leaves it 0
    assert outcome.exit_status == (1 if outcome.failed else 0)


def assert_variant_fails_nothing(outcome: CampaignOutcome, variant: str) -> None:
    why = "\n".join(outcome.failed_checks)
    assert not outcome.errors, outcome.errors
    failed = sorted(rid for rid, verdict in outcome.verdicts.items() if verdict == "fail")
    assert failed == [], f"{variant}: the campaign failed {failed}\n{why}"
    unjudged = "\n".join(outcome.unjudged)
    assert outcome.inconclusive == set(), f"{variant}: not judged {sorted(outcome.inconclusive)}\n{unjudged}"
    assert outcome.exit_status == 0
    assert outcome.accepted
