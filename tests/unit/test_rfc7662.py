"""RFC 7662 introspection: reading the request, shaping the answer."""

from __future__ import annotations

import pytest

from conformance.standards import rfc7662


def codes(parsed: rfc7662.ParsedIntrospection) -> list[str]:
    return [d.code for d in parsed.deviations]


class TestParseRequest:
    def test_a_conforming_request(self) -> None:
        parsed = rfc7662.parse_request({"token": ["t"], "token_type_hint": ["access_token"]})
        assert parsed == rfc7662.ParsedIntrospection("t", "access_token", ())
        assert parsed.error is None

    @pytest.mark.parametrize("form", [{}, {"token": [""]}, {"token_type_hint": ["access_token"]}])
    def test_a_missing_or_empty_token_is_fatal(self, form: dict[str, list[str]]) -> None:
        parsed = rfc7662.parse_request(form)
        assert parsed.token is None
        assert parsed.error is not None and parsed.error.code == "token_missing"
        assert parsed.error.error == "invalid_request"

    def test_a_token_in_the_query_is_used_but_recorded(self) -> None:
        parsed = rfc7662.parse_request({}, {"token": ["q"]})
        assert parsed.token == "q" and parsed.error is None
        assert codes(parsed) == ["query_parameters"]

    def test_the_form_wins_over_the_query_even_when_empty(self) -> None:
        parsed = rfc7662.parse_request({"token": [""]}, {"token": ["q"]})
        assert parsed.token is None and codes(parsed) == ["token_missing"]

    def test_repeated_parameters_are_recorded_and_the_first_value_used(self) -> None:
        parsed = rfc7662.parse_request({"token": ["a", "b"]})
        assert parsed.token == "a" and parsed.error is None
        assert codes(parsed) == ["duplicate_parameter"]

    def test_an_unregistered_hint_is_recorded_but_not_fatal(self) -> None:
        parsed = rfc7662.parse_request({"token": ["t"], "token_type_hint": ["id_token"]})
        assert parsed.token_type_hint == "id_token" and parsed.error is None
        assert codes(parsed) == ["token_type_hint"]


class TestAnswers:
    def test_inactive_says_nothing_else(self) -> None:
        assert rfc7662.inactive() == {"active": False}
        assert rfc7662.inactive() is not rfc7662.inactive()  # callers may add to their copy

    def test_active_answer_overrides_the_claims_it_is_given(self) -> None:
        claims = {"sub": "s", "active": False, "client_id": "from-claims"}
        answer = rfc7662.active_answer(claims, client_id="lps", token_type="Bearer")
        assert answer == {"sub": "s", "active": True, "client_id": "lps", "token_type": "Bearer"}
        assert claims["active"] is False  # not mutated

    def test_active_answer_keeps_claim_members_when_no_override_is_given(self) -> None:
        assert rfc7662.active_answer({"client_id": "c"}) == {"client_id": "c", "active": True}

    @pytest.mark.parametrize(("value", "active"), [(True, True), ("true", False), (1, False), (None, False)])
    def test_only_a_json_true_is_active(self, value: object, active: bool) -> None:
        assert rfc7662.is_active({"active": value}) is active
