"""OpenID Connect pieces: discovery document, ID token claims, end-session request."""

from __future__ import annotations

import pytest

from conformance.standards import oidc

PATHS = {
    "discovery": "/.well-known/openid-configuration",
    "jwks": "/certs",
    "authorization": "/auth",
    "token": "/token",
    "end_session": "/logout",
}
ISSUER = "https://psc.test/auth/realms/r"


class TestDiscovery:
    def test_endpoint_urls_are_the_issuer_plus_the_path_and_unknown_names_are_left_out(self) -> None:
        assert oidc.endpoint_metadata(ISSUER, PATHS) == {
            "jwks_uri": ISSUER + "/certs",
            "authorization_endpoint": ISSUER + "/auth",
            "token_endpoint": ISSUER + "/token",
            "end_session_endpoint": ISSUER + "/logout",
        }

    def test_document_with_metadata_and_mtls_aliases(self) -> None:
        document = oidc.discovery_document(
            ISSUER, PATHS, mtls_aliases=("token",), subject_types_supported=["public"]
        )
        assert document["issuer"] == ISSUER
        assert document["subject_types_supported"] == ["public"]
        assert document["mtls_endpoint_aliases"] == {"token_endpoint": ISSUER + "/token"}

    def test_no_aliases_member_without_aliases(self) -> None:
        assert "mtls_endpoint_aliases" not in oidc.discovery_document(ISSUER, PATHS)

    def test_well_known_url(self) -> None:
        assert oidc.well_known_url(ISSUER + "/") == ISSUER + "/.well-known/openid-configuration"


class TestIdToken:
    def test_at_hash_and_c_hash_of_the_core_spec_examples(self) -> None:
        # OpenID Connect Core 1.0, Appendix A.3 and A.4.
        assert (
            oidc.token_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256")
            == "77QmUPtjPfzWtF2AnpK9RQ"
        )
        code = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
        assert oidc.token_hash(code, "RS256") == "LDktKdoQak3Pk0cnXxCltA"

    def test_hash_length_follows_the_alg(self) -> None:
        assert len(oidc.token_hash("x", "ES384")) == 32  # 24 bytes
        with pytest.raises(ValueError):
            oidc.token_hash("x", "none")

    def test_claims(self) -> None:
        claims = oidc.id_token_claims(
            issuer=ISSUER,
            client_id="lps",
            subject="sub-1",
            issued_at=1000.9,
            ttl_s=60,
            auth_time=900.5,
            acr="eidas1",
            nonce="n",
            session_state="s",
            access_token="jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
            extra={"typ": "ID", "iss": "https://evil.test"},
        )
        assert claims == {
            "iss": ISSUER,
            "aud": "lps",
            "azp": "lps",
            "sub": "sub-1",
            "iat": 1000,
            "exp": 1060,
            "auth_time": 900,
            "acr": "eidas1",
            "nonce": "n",
            "session_state": "s",
            "sid": "s",
            "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
            "typ": "ID",
        }

    def test_optional_claims_are_absent_when_not_given(self) -> None:
        claims = oidc.id_token_claims(issuer=ISSUER, client_id="c", subject="s", issued_at=0, ttl_s=1)
        assert set(claims) == {"iss", "aud", "azp", "sub", "iat", "exp"}


class TestEndSession:
    def test_a_conforming_request(self) -> None:
        request = oidc.parse_end_session(
            {"id_token_hint": ["h"], "post_logout_redirect_uri": ["https://lps/out"], "state": ["st"]}
        )
        assert (request.id_token_hint, request.post_logout_redirect_uri, request.state) == (
            "h",
            "https://lps/out",
            "st",
        )
        assert request.problems == ()

    def test_empty_values_count_as_absent_but_an_empty_state_is_echoed(self) -> None:
        request = oidc.parse_end_session(
            {"id_token_hint": [""], "post_logout_redirect_uri": [""], "client_id": [""], "state": [""]}
        )
        assert request.id_token_hint is None and request.post_logout_redirect_uri is None
        assert request.client_id is None and request.state == ""

    def test_problems(self) -> None:
        request = oidc.parse_end_session(
            {"post_logout_redirect_uri": ["https://lps/out"], "state": ["a", "b"]}
        )
        assert request.state == "a"
        assert request.problems == (
            "no id_token_hint (RECOMMENDED)",
            "post_logout_redirect_uri without id_token_hint or client_id (MUST)",
            "parameters sent more than once: state",
        )

    def test_client_id_satisfies_the_redirect_rule(self) -> None:
        request = oidc.parse_end_session({"client_id": ["lps"], "post_logout_redirect_uri": ["https://x"]})
        assert request.problems == ("no id_token_hint (RECOMMENDED)",)

    def test_state_without_a_redirect_is_noted(self) -> None:
        request = oidc.parse_end_session({"id_token_hint": ["h"], "state": ["s"]})
        assert request.problems == (
            "state without post_logout_redirect_uri (it is returned to that URI only)",
        )
