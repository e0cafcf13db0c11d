"""OpenID Connect: the proxy is an OpenID client of PSC that uses only PSC's flows, by the standard.

Judged from PSC's own record: every token request as PSC parsed it (`token.request`, a
`conformance.standards.rfc6749.TokenRequest`), the grants and flows PSC refused, the userinfo calls and where
their access token was, and the metadata (discovery, JWKS) the SUT fetched.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from conformance.campaign.conditions import (
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    judged,
    passed,
)
from conformance.counterparts.observations import Observation
from conformance.standards import ciba, rfc6749

# The parameters of each grant's token request: RFC 6749's grants and CIBA's extension grant.
TOKEN_REQUEST_PARAMETERS: Mapping[str, Sequence[str]] = {
    **rfc6749.GRANT_PARAMETERS,
    ciba.GRANT_TYPE: ciba.TOKEN_REQUEST_PARAMETERS,
}
REFERENTIAL = "Référentiel PSC v1.8"


def _ids(observations: Iterable[Observation]) -> list[str | None]:
    return [o.exchange_id for o in observations]


def _parsed(request: Observation) -> rfc6749.TokenRequest | None:
    parsed = request.data.get("parsed")
    return parsed if isinstance(parsed, rfc6749.TokenRequest) else None


def token_request_problems(request: Observation) -> list[str]:
    """How one token request PSC received departs from RFC 6749 (and CIBA's grant)."""
    parsed = _parsed(request)
    if parsed is None:
        return ["PSC recorded no parsed form for this request"]
    return rfc6749.token_request_problems(parsed, TOKEN_REQUEST_PARAMETERS)


@condition(
    "openid_client_obtains_id_token",
    ("EXI PSC 08",),
    basis=f"{REFERENTIAL}, EXI PSC 08 (the service is an OpenID Connect client); OpenID Connect Core 1.0 "
    "§3.1.3.3 and OpenID CIBA Core 1.0 §10.1.1 (the client obtains the ID token at the token endpoint)",
    strength=Strength.MUST,
    precondition="the LPS connected a professional the SUT had never seen",
    fr="Le proxy obtient l'identité du professionnel par OpenID Connect auprès de PSC (jeton d'identité)",
    en="The proxy gets the professional's identity through OpenID Connect at PSC (ID token)",
)
def openid_client_obtains_id_token(
    requests: Sequence[Observation], issued: Sequence[Observation]
) -> Judgement:
    grants = sorted({str(o.data.get("grant_type")) for o in requests})
    return judged(
        bool(issued),
        f"{len(requests)} token request(s) at PSC ({', '.join(grants) or 'none'}); "
        f"{len(issued)} issuance(s) of tokens with an ID token",
        _ids(issued or requests),
    )


@condition(
    "openid_provider_metadata_read",
    ("EXI PSC 08",),
    basis="project reading of OpenID Connect Discovery 1.0 §4 and Core 1.0 §10.1.1: the client takes PSC's "
    "endpoints from its published discovery document and PSC's keys from its jwks_uri",
    strength=Strength.READING,
    precondition="the campaign ran connects",
    fr="Le proxy lit les métadonnées publiées par PSC (découverte et clés) (lecture du projet)",
    en="The proxy reads PSC's published metadata (discovery and keys) (project reading)",
)
def openid_provider_metadata_read(fetched: Sequence[Observation]) -> Judgement:
    kinds = {o.kind for o in fetched}
    missing = [name for name in ("metadata.discovery", "metadata.jwks") if name not in kinds]
    if missing:
        return failed(
            f"never fetched from PSC: {', '.join(m.split('.', 1)[1] for m in missing)}; discovery is "
            "optional for a client configured by hand, and keys may be configured too: beyond the sources",
            _ids(fetched),
        )
    return passed("PSC's discovery document and JWKS were fetched", _ids(fetched[:4]))


@condition(
    "only_psc_flows",
    ("EXI PSC 10",),
    basis=f"{REFERENTIAL}, EXI PSC 10 (only the OpenID flows PSC defines); PSC's discovery document "
    "(grant_types_supported: authorization_code, refresh_token, CIBA; response_types_supported: code)",
    strength=Strength.MUST,
    precondition="the SUT called PSC's token or authorization endpoint",
    fr="Le proxy n'emploie que les flux de PSC (CIBA, rafraîchissement, code d'autorisation)",
    en="The proxy uses only PSC's flows (CIBA, refresh, authorization code)",
)
def only_psc_flows(
    requests: Sequence[Observation], authorizations: Sequence[Observation], offered: Collection[str]
) -> Judgement:
    if not requests and not authorizations:
        return inconclusive("the SUT called neither PSC's token endpoint nor its authorization endpoint")
    off_grant = [o for o in requests if o.data.get("grant_type") not in offered]
    off_flow = [o for o in authorizations if o.kind == "authorize.response_type"]
    grants = sorted({str(o.data.get("grant_type")) for o in requests})
    detail = f"grant types {grants}; PSC offers {sorted(offered)}"
    if off_grant or off_flow:
        return failed(
            "; ".join([detail, *(o.detail for o in off_flow)]),
            _ids([*off_grant, *off_flow]),
        )
    return passed(detail, _ids(requests))


@condition(
    "token_requests_per_oauth",
    ("EXI PSC 15",),
    basis=f"{REFERENTIAL}, EXI PSC 15; RFC 6749 §3.2 (POST, form-encoded body, no repeated parameter), "
    "§4.1.3 and §6 (the grant's parameters), §2.3 with RFC 8705 §2 (the client named by client_id or "
    "Authorization); OpenID CIBA Core 1.0 §10.1 (auth_req_id)",
    strength=Strength.MUST,
    precondition="the SUT sent a token request to PSC",
    fr="Chaque requête au point de jeton porte les paramètres de la norme pour son type de grant",
    en="Each token request carries the standard parameters of its grant type",
)
def token_requests_per_oauth(requests: Sequence[Observation]) -> Judgement:
    if not requests:
        return inconclusive("the SUT sent no token request to PSC")
    faulty = [(o, token_request_problems(o)) for o in requests]
    faulty = [(o, problems) for o, problems in faulty if problems]
    if faulty:
        return failed(
            "; ".join(f"{o.data.get('grant_type')}: {', '.join(problems)}" for o, problems in faulty[:5]),
            _ids(o for o, _ in faulty),
        )
    grants = sorted({str(o.data.get("grant_type")) for o in requests})
    return passed(
        f"{len(requests)} token request(s) ({', '.join(grants)}), each as RFC 6749 states", _ids(requests)
    )


def _where(call: Observation) -> str:
    return str(call.data.get("token_in") or "nowhere")


@condition(
    "userinfo_bearer_token",
    ("EXI PSC 15",),
    basis="OpenID Connect Core 1.0 §5.3.1 (the access token MUST be sent as a Bearer token per RFC 6750 §2); "
    "RFC 9700 §4.3.2 (clients MUST NOT pass access tokens in a URI query parameter, RFC 6750 §2.3)",
    strength=Strength.MUST,
    precondition="the SUT called PSC's userinfo endpoint",
    fr="Les appels userinfo portent le jeton d'accès en Bearer, jamais dans l'URL",
    en="Userinfo calls carry the access token as a Bearer token, never in the URL",
)
def userinfo_bearer_token(calls: Sequence[Observation]) -> Judgement:
    if not calls:
        return inconclusive("the SUT did not call userinfo (it may take the identity from the ID token)")
    wrong = [o for o in calls if o.data.get("token_in") not in ("header", "body")]
    places = sorted({_where(o) for o in calls})
    return judged(
        not wrong,
        f"{len(calls)} userinfo call(s); access token in: {', '.join(places)}",
        _ids(wrong or calls),
    )


@condition(
    "userinfo_bearer_in_header",
    ("EXI PSC 15",),
    basis="OpenID Connect Core 1.0 §5.3.1 (RECOMMENDED: the Authorization header); RFC 6750 §2.2 (the form "
    "body SHOULD NOT be used where the header can be)",
    strength=Strength.SHOULD,
    precondition="the SUT called PSC's userinfo endpoint with a Bearer token",
    fr="Les appels userinfo portent le jeton dans l'en-tête Authorization: Bearer (recommandé)",
    en="Userinfo calls carry the token in an Authorization: Bearer header (recommended)",
)
def userinfo_bearer_in_header(calls: Sequence[Observation]) -> Judgement:
    bearer = [o for o in calls if o.data.get("token_in") in ("header", "body")]
    if not bearer:
        return inconclusive("the SUT made no userinfo call with a Bearer token")
    in_body = [o for o in bearer if o.data.get("token_in") == "body"]
    if in_body:
        return failed(
            f"{len(in_body)} of {len(bearer)} userinfo call(s) with the token in the form body (allowed by "
            "RFC 6750 §2.2, but the header is recommended)",
            _ids(in_body),
        )
    return passed(f"{len(bearer)} userinfo call(s), token in the Authorization header", _ids(bearer))
