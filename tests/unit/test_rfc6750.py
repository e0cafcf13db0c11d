"""RFC 6750 bearer tokens and the RFC 9110 challenge grammar, including headers a hostile server sends."""

from __future__ import annotations

import pytest

from conformance.standards import rfc6750
from conformance.standards.rfc6750 import Challenge, ChallengeSyntaxError, parse_challenges


class TestBearerToken:
    @pytest.mark.parametrize(
        ("header", "token"),
        [
            ("Bearer abc.def", "abc.def"),
            ("bearer  abc ", "abc"),
            ("BEARER abc", "abc"),
            ("Bearer", None),
            ("Bearer   ", None),
            ("Basic abc", None),
            ("", None),
            (None, None),
        ],
    )
    def test_header(self, header: str | None, token: str | None) -> None:
        assert rfc6750.bearer_token(header) == token

    def test_location_prefers_the_header_then_the_body_then_the_query(self) -> None:
        both = {"access_token": ["t"]}
        assert rfc6750.bearer_token_location("Bearer t", both, both) == "header"
        assert rfc6750.bearer_token_location("Basic x", both, both) == "body"
        assert rfc6750.bearer_token_location(None, {}, both) == "query"
        assert rfc6750.bearer_token_location("Bearer ", {}, {}) is None

    def test_error_statuses_are_those_of_section_3_1(self) -> None:
        assert rfc6750.ERROR_STATUS == {
            "invalid_request": 400,
            "invalid_token": 401,
            "insufficient_scope": 403,
        }


class TestBearerChallenge:
    def test_without_parameters_is_the_bare_scheme(self) -> None:
        assert rfc6750.bearer_challenge() == "Bearer"

    def test_attributes_in_the_order_of_the_rfc_examples(self) -> None:
        value = rfc6750.bearer_challenge(
            realm="apipsc",
            error=rfc6750.INSUFFICIENT_SCOPE,
            error_description="the token lacks the API scope",
            scope=["signsessiondata", "openid"],
        )
        assert value == (
            'Bearer realm="apipsc", error="insufficient_scope", '
            'error_description="the token lacks the API scope", scope="signsessiondata openid"'
        )

    def test_round_trips_through_the_parser_with_an_escaped_realm(self) -> None:
        value = rfc6750.bearer_challenge(realm='a "quoted" \\ realm', error="invalid_token")
        assert parse_challenges(value) == [
            Challenge("Bearer", {"realm": 'a "quoted" \\ realm', "error": "invalid_token"})
        ]

    @pytest.mark.parametrize(
        "arguments",
        [
            {"error": "invalid token"},
            {"error": ""},
            {"error_description": 'says "no"'},
            {"error_description": "back\\slash"},
            {"scope": ""},
            {"scope": 'a"b'},
            {"realm": "line\nbreak"},
        ],
    )
    def test_values_section_3_forbids_are_refused(self, arguments: dict[str, str]) -> None:
        with pytest.raises(ValueError):
            rfc6750.bearer_challenge(**arguments)


class TestParseChallenges:
    def test_rfc_9110_example_with_two_challenges_and_an_escaped_quote(self) -> None:
        header = 'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"'
        assert parse_challenges(header) == [
            Challenge("Newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}),
            Challenge("Basic", {"realm": "simple"}),
        ]

    def test_token68(self) -> None:
        assert parse_challenges("Basic YWxhZGRpbjpvcGVuc2VzYW1l==") == [
            Challenge("Basic", token68="YWxhZGRpbjpvcGVuc2VzYW1l==")
        ]

    @pytest.mark.parametrize("header", ["Bearer realm", "Bearer realm="])
    def test_a_parameter_without_value_is_a_token68_by_the_grammar(self, header: str) -> None:
        assert parse_challenges(header) == [Challenge("Bearer", token68=header.split(" ")[1])]

    def test_schemes_without_parameters_and_bws_around_equals(self) -> None:
        assert parse_challenges('Negotiate, Bearer realm = "x" ,error=invalid_token') == [
            Challenge("Negotiate"),
            Challenge("Bearer", {"realm": "x", "error": "invalid_token"}),
        ]

    def test_parameter_names_are_lowercased_and_the_scheme_kept(self) -> None:
        [challenge] = parse_challenges('bEARER Realm="x", ERROR="invalid_token"')
        assert challenge.scheme == "bEARER" and challenge.is_scheme("Bearer")
        assert challenge.params == {"realm": "x", "error": "invalid_token"}

    @pytest.mark.parametrize("header", ["", "   ", ",", " , ,, "])
    def test_empty_headers_and_empty_elements_give_no_challenge(self, header: str) -> None:
        assert parse_challenges(header) == []

    def test_empty_list_elements_between_challenges_and_parameters_are_skipped(self) -> None:
        assert parse_challenges(', Bearer realm="a", , error="b",, Basic ,') == [
            Challenge("Bearer", {"realm": "a", "error": "b"}),
            Challenge("Basic"),
        ]

    def test_commas_inside_a_quoted_string_are_data(self) -> None:
        [challenge] = parse_challenges('Bearer error_description="a, b, c=d", scope="x y"')
        assert challenge.params == {"error_description": "a, b, c=d", "scope": "x y"}

    @pytest.mark.parametrize(
        "header",
        [
            'Bearer realm="unterminated',
            'Bearer realm="ends with a backslash\\',
            'Bearer realm="x", error=',
            'Bearer realm="x" error="y"',
            'Bearer realm="x", realm="y"',
            "Bearer realm=, error=x",
            '="x"',
            'Bearer realm="x"garbage',
            'Bearer realm="bell\x07"',
            "Bearer\trealm=x",
            "Bearer realm=a b",
            "Bearer @",
        ],
    )
    def test_hostile_headers_are_refused(self, header: str) -> None:
        with pytest.raises(ChallengeSyntaxError):
            parse_challenges(header)

    def test_the_error_says_where_parsing_stopped(self) -> None:
        with pytest.raises(ChallengeSyntaxError, match="unterminated quoted-string") as caught:
            parse_challenges('Basic realm="a", Bearer error="never closed')
        assert caught.value.position == len('Basic realm="a", Bearer error=')

    def test_a_very_long_header_is_parsed_in_linear_time(self) -> None:
        header = ", ".join(f'S{i} a="{"x" * 50}", b=c' for i in range(2000))
        assert len(parse_challenges(header)) == 2000
