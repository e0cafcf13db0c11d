"""The CIBA interval a quick login announces: fractions only to a SUT already given fractions."""

from __future__ import annotations

import pytest

from conformance.roles.consumer.bench import quick_interval_s


@pytest.mark.parametrize(
    ("announced", "quick"),
    [
        (0.1, 0.02),  # the embedded campaign: its proxy is given 0.1 s everywhere
        (0.5, 0.02),
        (1.0, 1.0),  # a vendor's proxy given whole seconds (PSC's are): never a fraction, which an
        (5.0, 1.0),  # integer-reading client (Nimbus, the ANS example proxy) could read as 0 or refuse
        (2.0, 1.0),
    ],
)
def test_quick_interval_is_whole_seconds_to_a_sut_given_whole_seconds(announced: float, quick: float) -> None:
    assert quick_interval_s(announced) == quick
    assert quick_interval_s(announced) <= announced
