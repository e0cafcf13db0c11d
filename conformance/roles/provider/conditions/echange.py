"""Échange de jeton: the provider's authorization server exchanging PSC access tokens (IG 1.2.0 steps 9-11).

The harness plays the proxy (RFC 8693 token exchange over mTLS with an LPS certificate) and PSC (it
issued the subject token and answers the provider's introspection). The rules read:

- what the authorization server answered (`conformance.evidence.calls.Call`): the success of RFC 8693
  §2.2.1 / RFC 6749 §5.1, or the error of RFC 6749 §5.2 / RFC 8693 §2.2.2;
- what PSC saw of the provider meanwhile (`AtPsc`, gathered by `at_psc`): its introspection of the
  subject token, how it authenticated, and every request it sent PSC.

A refusal is judged by what the sources require of it, never by the reference's choice of code: any error
code of RFC 6749 §5.2 / RFC 8693 §2.2.2 is accepted (400, or 401 for invalid_client), a token never is.
When the SUT did not answer at all, nothing is said about the rule (inconclusive).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

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
from conformance.evidence.calls import Call, json_body
from conformance.evidence.model import Exchange
from conformance.standards import jose, rfc8693

if TYPE_CHECKING:
    from conformance.roles.provider.bench import ProviderBench

IG_STEP_9: Final = "IG Sécurisation transport 1.2.0, api_prosanteconnectee_web.html (étape 9)"
IG_STEP_10: Final = "IG Sécurisation transport 1.2.0, api_prosanteconnectee_web.html (étape 10)"
IG_STEP_11: Final = "IG Sécurisation transport 1.2.0, api_prosanteconnectee_web.html (étape 11)"
IG_ERRORS: Final = "IG Sécurisation transport 1.2.0, api_prosanteconnectee_web_erreurs.html (cas 1a)"
IG_STANDARDS: Final = "IG Sécurisation transport 1.2.0, standards.html (conservation de l'access token)"
RFC_ERRORS: Final = (
    "RFC 6749 §5.2 and RFC 8693 §2.2.2 (an error object with a registered code; 400, "
    "401 only for invalid_client)"
)
REFERENTIEL: Final = "Référentiel PSC v1.8"
EXCHANGED: Final = "the harness exchanged a fresh, valid PSC token with a registered LPS certificate"
ISSUED: Final = "the SUT issued an API token for the exchange"
INTROSPECTED: Final = "the SUT called PSC's introspection endpoint while it answered the exchange"
ACCESS_TOKEN_TYPE: Final = rfc8693.ACCESS_TOKEN
MODERN_TLS: Final = ("TLSv1.2", "TLSv1.3")
LIFETIME_RANGE_S: Final = (3600, 14400)  # IG standards: an API token lives 1 to 4 hours
# A transport error that says nothing of the SUT's decision: it never answered, or could not be reached.
INTROSPECTION_DEVIATIONS: Final = {  # what PSC notes of an introspection request (rfc7662.parse_request)
    "introspection_request.query_parameters",
    "introspection_request.duplicate_parameter",
    "introspection_request.token_missing",
    "introspection_request.token_type_hint",
}
# Client authentication failures at PSC, by what they say of the credentials used.
WRONG_CREDENTIALS: Final = {
    "client_auth.bad_secret",
    "client_auth.unknown_client",
    "client_auth.cn_mismatch",
    "client_auth.client_id_missing",
}
NO_CERTIFICATE: Final = "client_auth.no_certificate"
FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"


# -- reading an answer of the token endpoint ---------------------------------------------------------------


def answer_body(call: Call) -> Any:
    return None if call.answer is None else json_body(call.answer)


def issued_token(call: Call) -> str | None:
    """The access token a success carries (any 2xx with one in a JSON object), else None."""
    body = answer_body(call)
    status = call.status
    if status is None or not 200 <= status < 300 or not isinstance(body, Mapping):
        return None
    token = body.get("access_token")
    return token if isinstance(token, str) and token else None


def did_not_answer(call: Call) -> bool:
    """No answer, and nothing the SUT decided: a timeout, or the endpoint unreachable."""
    return call.silent


def describe(call: Call) -> str:
    """'HTTP 400 invalid_grant', 'HTTP 200 with an access token', or the transport error."""
    if call.answer is None:
        return call.describe()
    body = answer_body(call)
    error = body.get("error") if isinstance(body, Mapping) else None
    if issued_token(call):
        return f"HTTP {call.status} with an access token"
    return f"HTTP {call.status}" + (f" {error}" if isinstance(error, str) else "")


def oauth_refusal(call: Call, case: str) -> Judgement:
    """RFC 6749 §5.2: 400 (401 only for invalid_client), a JSON object whose `error` is a registered code
    (RFC 8693 §2.2.2 adds invalid_target), and no token."""
    evidence = [call.exchange_id]
    if call.answer is None:
        return inconclusive(
            f"{case}: {call.describe()}: the SUT gave no answer to judge",
            evidence,
            root_cause="the authorization server did not answer the request",
        )
    if issued_token(call):
        return failed(f"{case}: {describe(call)}; a refusal was due", evidence)
    body = answer_body(call)
    if not isinstance(body, Mapping):
        return failed(f"{case}: HTTP {call.status} without a JSON error object (RFC 6749 §5.2)", evidence)
    error = body.get("error")
    if "access_token" in body:
        return failed(f"{case}: HTTP {call.status} {error!r} carries an access_token", evidence)
    if not isinstance(error, str) or error not in rfc8693.ERROR_CODES:
        return failed(f"{case}: HTTP {call.status}, error {error!r} is not an RFC 6749/8693 code", evidence)
    status_ok = call.status == 400 or (call.status == 401 and error == rfc8693.INVALID_CLIENT)
    return judged(
        status_ok, f"{case}: {describe(call)}" + ("" if status_ok else " (RFC 6749 §5.2: 400)"), evidence
    )


def cache_directives(value: str | None) -> list[str]:
    """The directive names of a Cache-Control value (RFC 9111 §5.2), lowercased."""
    return [part.strip().split("=", 1)[0].lower() for part in (value or "").split(",") if part.strip()]


# -- the answer to a valid exchange -----------------------------------------------------------------------


@condition(
    "valid_exchange_issues_token",
    ("IG-SEC-14",),
    basis=f"RFC 8693 §2.2.1 (a successful exchange is answered 200 with access_token); {IG_STEP_11}",
    strength=Strength.MUST,
    precondition=EXCHANGED,
    fr="Un échange valide (jeton PSC actif, LPS enregistré, mTLS) est servi : 200 avec un access_token",
    en="A valid exchange (active PSC token, registered LPS, mTLS) is served: 200 with an access_token",
)
def valid_exchange_issues_token(call: Call) -> Judgement:
    if did_not_answer(call):
        return inconclusive(
            f"{call.describe()}: no answer to the exchange",
            root_cause="the authorization server did not answer",
        )
    return judged(call.status == 200 and issued_token(call) is not None, describe(call), [call.exchange_id])


@condition(
    "exchange_answer_complete",
    ("IG-SEC-14",),
    basis="RFC 8693 §2.2.1 (issued_token_type, token_type, expires_in); RFC 6749 §5.1 (application/json, "
    f"Cache-Control: no-store; token_type case-insensitive, §7.1); {IG_STEP_11} (example answer)",
    strength=Strength.MUST,
    precondition=ISSUED,
    fr="La réponse d'échange est complète : issued_token_type access_token, token_type Bearer, expires_in, "
    "JSON, Cache-Control no-store",
    en="The exchange answer is complete: issued_token_type access_token, token_type Bearer, expires_in, "
    "JSON, Cache-Control no-store",
)
def exchange_answer_complete(call: Call) -> Judgement:
    if call.answer is None or issued_token(call) is None:
        return inconclusive(
            f"{describe(call)}: no token was issued, no answer to judge",
            [call.exchange_id],
            root_cause="valid_exchange_issues_token: the valid exchange was not served",
        )
    body = answer_body(call)
    headers = call.answer.headers
    problems: list[str] = []
    media_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        problems.append(f"Content-Type {media_type or 'absent'!r}, not application/json")
    if "no-store" not in cache_directives(headers.get("Cache-Control")):
        problems.append(f"Cache-Control {headers.get('Cache-Control')!r} lacks no-store")
    if body.get("issued_token_type") != ACCESS_TOKEN_TYPE:
        problems.append(f"issued_token_type {body.get('issued_token_type')!r}, not {ACCESS_TOKEN_TYPE}")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        problems.append(f"token_type {token_type!r}, not Bearer")
    expires_in = body.get("expires_in")
    if (number(expires_in) or 0) <= 0:
        problems.append(f"expires_in {expires_in!r} is not a positive number of seconds")
    if problems:
        return failed("; ".join(problems), [call.exchange_id])
    return passed(
        f"{token_type}, {body['issued_token_type']}, expires_in {expires_in}, "
        f"Cache-Control {headers.get('Cache-Control')!r}",
        [call.exchange_id],
    )


def number(value: object) -> float | None:
    """A JSON number as a float (a boolean is not one), else None."""
    return None if isinstance(value, bool) or not isinstance(value, int | float) else float(value)


def token_lifetime_s(call: Call) -> tuple[float | None, str]:
    """The API token's lifetime: expires_in of the answer, else exp - iat of a JWT; and where it was read."""
    body = answer_body(call)
    expires_in = number(body.get("expires_in")) if isinstance(body, Mapping) else None
    if expires_in is not None:
        return expires_in, "expires_in"
    token = issued_token(call)
    decoded = jose.unverified(token) if token else None
    claims = decoded[1] if decoded else {}
    exp, iat = number(claims.get("exp")), number(claims.get("iat"))
    if exp is not None and iat is not None:
        return exp - iat, "exp - iat of the token"
    return None, ""


@condition(
    "api_token_lifetime_1_to_4_hours",
    ("IG-SEC-19",),
    basis=f"{IG_STANDARDS}: an API access token is recommended to live 1 to 4 hours",
    strength=Strength.SHOULD,
    precondition=ISSUED,
    fr="Le jeton API vit entre 1 et 4 heures (recommandé)",
    en="The API token lives between 1 and 4 hours (recommended)",
)
def api_token_lifetime_1_to_4_hours(call: Call) -> Judgement:
    if issued_token(call) is None:
        return inconclusive(
            f"{describe(call)}: no token was issued", root_cause="the valid exchange was not served"
        )
    lifetime, source = token_lifetime_s(call)
    if lifetime is None:
        return inconclusive(
            "neither expires_in nor the token's exp and iat tell its lifetime", [call.exchange_id]
        )
    low, high = LIFETIME_RANGE_S
    ok = low <= lifetime <= high
    text = f"{source} = {lifetime:g} s" + ("" if ok else f", outside the recommended {low}-{high} s")
    return judged(ok, text, [call.exchange_id])


# -- what PSC saw of the provider ---------------------------------------------------------------------------


def token_sha256(token: str) -> str:
    """How PSC's observations name a token (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AtPsc:
    """What the simulated PSC saw while the provider answered one exchange (and just after)."""

    subject_sha256: str
    answered_at: float  # when the harness had the exchange's answer
    observations: tuple[Observation, ...] = ()  # PSC's, from the exchange's start on
    requests: tuple[Exchange, ...] = ()  # every request PSC received, from the exchange's start on
    published: frozenset[str] = frozenset()  # the paths of the endpoints PSC publishes
    introspection_path: str = ""
    client_subjects: Mapping[str, str] | None = None  # certificate subject -> client id, the test PKI's

    def of(self, *kinds: str) -> list[Observation]:
        return [o for o in self.observations if o.kind in kinds]

    @property
    def introspections(self) -> list[Observation]:
        """PSC's introspections of the exchange's subject token."""
        return [o for o in self.of("introspection") if o.data.get("token_sha256") == self.subject_sha256]

    @property
    def refused_authentications(self) -> list[Observation]:
        """Client authentications PSC refused at its introspection endpoint."""
        return [
            o
            for o in self.observations
            if o.kind.startswith("client_auth.")
            and o.kind != "client_auth.basic"  # a note that Basic was used, not a refusal
            and o.data.get("endpoint") == "introspection"
        ]

    @property
    def introspection_requests(self) -> list[Exchange]:
        return [r for r in self.requests if urlsplit(r.url).path == self.introspection_path]

    @property
    def tried(self) -> bool:
        """The provider reached PSC's introspection endpoint (whatever PSC made of it)."""
        return bool(self.introspections or self.refused_authentications or self.introspection_requests)

    def whose(self, subject: str | None) -> str:
        if subject is None:
            return "no certificate"
        client = (self.client_subjects or {}).get(subject)
        return (
            f"{client}'s certificate" if client else f"a certificate outside the test IGC-Santé ({subject})"
        )


def _published_paths(document: Mapping[str, Any]) -> frozenset[str]:
    urls = [v for v in document.values() if isinstance(v, str) and v.startswith("https://")]
    aliases = document.get("mtls_endpoint_aliases")
    if isinstance(aliases, Mapping):
        urls += [v for v in aliases.values() if isinstance(v, str)]
    return frozenset(urlsplit(url).path for url in urls)


def at_psc(provider: ProviderBench, call: Call, subject_token: str) -> AtPsc:
    """Gather what PSC saw from the exchange `call`'s start on (only the SUT talks to PSC in a provider
    campaign: the harness issues its PSC tokens in-process)."""
    psc = provider.counterparts.psc
    document = psc.discovery_document()
    published = _published_paths(document) | {
        urlsplit(psc.discovery_url).path,
        urlsplit(psc.issuer).path + "/.well-known/openid-configuration",
    }
    introspection = document.get("introspection_endpoint")
    return AtPsc(
        subject_sha256=token_sha256(subject_token),
        answered_at=call.ended_at,
        observations=tuple(provider.observed(since=call.started_at, counterpart="psc")),
        requests=tuple(provider.exchanges(counterpart="psc", since=call.started_at)),
        published=published,
        introspection_path=urlsplit(introspection).path if isinstance(introspection, str) else "",
        client_subjects={c.subject: cid for cid, c in provider.counterparts.pki.clients.items()},
    )


def _refs(observations: Sequence[Observation]) -> list[str | None]:
    return [o.exchange_id for o in observations]


@condition(
    "subject_token_introspected_before_issue",
    ("IG-SEC-13",),
    basis=f"{IG_STEP_10}: the authorization server introspects the subject_token at PSC (RFC 7662) "
    "before issuing the API token",
    strength=Strength.MUST,
    precondition=ISSUED,
    fr="Le serveur d'autorisation introspecte le jeton PSC auprès de PSC avant de délivrer le jeton API",
    en="The authorization server introspects the PSC token at PSC before issuing the API token",
)
def subject_token_introspected_before_issue(call: Call, psc: AtPsc) -> Judgement:
    if issued_token(call) is None:
        return inconclusive(
            f"{describe(call)}: no API token was issued, so none was issued without introspection",
            [call.exchange_id],
            root_cause="valid_exchange_issues_token: the valid exchange was not served",
        )
    before = [o for o in psc.introspections if o.at <= psc.answered_at]
    if before:
        active = before[-1].data.get("active")
        return passed(
            f"PSC answered an introspection of the subject token (client {before[-1].client_id}, "
            f"active={active}) before the exchange answer",
            [call.exchange_id, *_refs(before)],
        )
    late = "" if not psc.introspections else " (only after the answer)"
    return failed(
        f"an API token was issued, but PSC saw no introspection of the subject token{late}",
        [call.exchange_id],
    )


# -- the provider as a client of PSC (Référentiel PSC) ----------------------------------------------------


def _not_at_psc() -> Judgement:
    return inconclusive(
        "the provider did not call PSC's introspection endpoint during the exchange",
        root_cause="subject_token_introspected_before_issue: no introspection of the subject token at PSC",
    )


@condition(
    "psc_introspection_published_endpoint",
    ("EXI PSC 08",),
    basis=f"{REFERENTIEL}, EXI PSC 08 (be an OpenID Connect client of PSC); RFC 8414 §2 and OpenID "
    "Connect Discovery 1.0 §3 (the endpoints PSC publishes); RFC 7662 §2 (introspection endpoint)",
    strength=Strength.MUST,
    precondition=INTROSPECTED,
    fr="Le fournisseur valide le jeton PSC à l'endpoint d'introspection publié par PSC, et n'appelle que "
    "des endpoints publiés",
    en="The provider checks the PSC token at the introspection endpoint PSC publishes, and calls only "
    "published endpoints",
)
def psc_introspection_published_endpoint(psc: AtPsc) -> Judgement:
    if not psc.tried:
        return _not_at_psc()
    elsewhere = [r for r in psc.requests if urlsplit(r.url).path not in psc.published]
    if elsewhere:
        paths = sorted({f"{r.method} {urlsplit(r.url).path}" for r in elsewhere})
        return failed(f"requests to PSC outside its published endpoints: {paths}", [r.id for r in elsewhere])
    return passed(
        f"{len(psc.requests)} request(s) to PSC, all at endpoints it publishes; the subject token checked at "
        f"{psc.introspection_path}",
        [r.id for r in psc.requests],
    )


@condition(
    "psc_introspection_post_form_token",
    ("EXI PSC 15",),
    basis=f"{REFERENTIEL}, EXI PSC 15 (requests built per the standard); RFC 7662 §2.1 (HTTP POST, "
    "application/x-www-form-urlencoded, parameter token; token_type_hint from the registry)",
    strength=Strength.MUST,
    precondition=INTROSPECTED,
    fr="L'introspection auprès de PSC est un POST de formulaire portant token (RFC 7662 §2.1)",
    en="The introspection at PSC is a form POST carrying token (RFC 7662 §2.1)",
)
def psc_introspection_post_form_token(psc: AtPsc) -> Judgement:
    if not psc.tried:
        return _not_at_psc()
    problems = [f"{o.kind.rsplit('.', 1)[-1]}: {o.detail}" for o in psc.of(*INTROSPECTION_DEVIATIONS)]
    for request in psc.introspection_requests:
        media_type = (request.request_header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if request.method != "POST":
            problems.append(f"{request.method} instead of POST")
        elif media_type != FORM_MEDIA_TYPE:
            problems.append(f"Content-Type {media_type or 'absent'!r}, not {FORM_MEDIA_TYPE}")
    evidence = [r.id for r in psc.introspection_requests]
    if problems:
        return failed("; ".join(dict.fromkeys(problems)), evidence)
    return passed(f"POST {FORM_MEDIA_TYPE} with token ({len(evidence)} request(s))", evidence)


@condition(
    "psc_introspection_provider_credentials",
    ("EXI PSC 21",),
    basis=f"{REFERENTIEL}, EXI PSC 21 (use the client credentials PSC issued): the provider's own client "
    "id (and its certificate or secret), never another client's",
    strength=Strength.MUST,
    precondition=INTROSPECTED,
    fr="Le fournisseur s'authentifie auprès de PSC avec ses propres identifiants de raccordement",
    en="The provider authenticates to PSC with its own client credentials",
)
def psc_introspection_provider_credentials(psc: AtPsc, provider_client_id: str) -> Judgement:
    if not psc.tried:
        return _not_at_psc()
    wrong = [o for o in psc.refused_authentications if o.kind in WRONG_CREDENTIALS]
    others = [o for o in psc.of("introspection") if o.client_id != provider_client_id]
    if wrong or others:
        said = [f"{o.kind}: {o.detail}" for o in wrong] + [f"introspected as {o.client_id!r}" for o in others]
        return failed(f"{'; '.join(said)} (expected {provider_client_id!r})", _refs([*wrong, *others]))
    mine = [o for o in psc.of("introspection") if o.client_id == provider_client_id]
    if not mine:
        return inconclusive(
            "PSC authenticated no introspection request of the provider",
            _refs(psc.refused_authentications),
            root_cause="; ".join(o.detail for o in psc.refused_authentications) or "no introspection",
        )
    methods = sorted({str(o.data.get("method")) for o in mine})
    return passed(f"introspection as {provider_client_id} ({', '.join(methods)})", _refs(mine))


@condition(
    "psc_introspection_tls_auth_cli",
    ("EXI PSC 24",),
    basis=f"{REFERENTIEL}, EXI PSC 24 (TLS ≥ 1.2 to PSC with the IGC-Santé ORG AUTH_CLI certificate); ANS "
    "introspection page (client_secret_basic documented, over that same mutual TLS)",
    strength=Strength.MUST,
    precondition=INTROSPECTED,
    fr="L'introspection auprès de PSC passe par TLS ≥ 1.2 avec le certificat AUTH_CLI du fournisseur",
    en="The introspection at PSC runs over TLS ≥ 1.2 with the provider's AUTH_CLI certificate",
)
def psc_introspection_tls_auth_cli(psc: AtPsc) -> Judgement:
    if not psc.tried:
        return _not_at_psc()
    problems: list[str] = [f"{o.detail}" for o in psc.refused_authentications if o.kind == NO_CERTIFICATE]
    seen: list[str] = []
    for o in psc.of("introspection"):
        version, subject = o.data.get("tls_version"), o.data.get("certificate_subject")
        seen.append(f"{version}, {psc.whose(subject)}, {o.data.get('method')}")
        if version not in MODERN_TLS:
            problems.append(f"TLS version {version!r}")
        if subject is None or subject not in (psc.client_subjects or {}):
            problems.append(f"{o.data.get('method')} with {psc.whose(subject)}")
    evidence = _refs([*psc.refused_authentications, *psc.of("introspection")])
    if problems:
        return failed("; ".join(dict.fromkeys(problems)), evidence)
    if not seen:
        return inconclusive("no introspection request was authenticated by PSC", evidence)
    return passed("; ".join(dict.fromkeys(seen)), evidence)


# -- refusals ----------------------------------------------------------------------------------------------


@condition(
    "unusable_subject_token_refused",
    ("IG-SEC-18",),
    basis=f"{IG_ERRORS}: an expired or inactive subject_token fails introspection and the AS answers an "
    f"error; RFC 8693 §2.2.2 (an invalid subject_token is refused with an error); {RFC_ERRORS}",
    strength=Strength.MUST,
    precondition="the harness asked to exchange a PSC token that PSC holds inactive, expired or not its own",
    fr="Un jeton PSC inactif, expiré ou d'un autre émetteur est refusé par une erreur OAuth, sans jeton",
    en="An inactive, expired or foreign PSC token is refused with an OAuth error, without a token",
)
def unusable_subject_token_refused(call: Call, case: str) -> Judgement:
    return oauth_refusal(call, case)


@condition(
    "invalid_exchange_request_refused",
    ("IG-SEC-27",),
    basis=f"{IG_STEP_11} (Client_ID_AS × scopes); RFC 8693 §2.1 (grant_type, subject_token and "
    f"subject_token_type are REQUIRED); {RFC_ERRORS}",
    strength=Strength.MUST,
    precondition="the harness sent an exchange request with one invalid element and a valid PSC token",
    fr="Requête d'échange invalide refusée par une erreur OAuth (400, JSON, code normalisé), sans jeton",
    en="An invalid exchange request is refused with an OAuth error (400, JSON, standard code), no token",
)
def invalid_exchange_request_refused(call: Call, case: str) -> Judgement:
    return oauth_refusal(call, case)


@condition(
    "unallowed_scope_not_granted",
    ("IG-SEC-27",),
    basis=f"{IG_STEP_11} (Client_ID_AS × scopes); RFC 6749 §3.3 (the server MAY ignore a requested scope, "
    "and MUST then name the scope it granted); RFC 6749 §5.2 (invalid_scope)",
    strength=Strength.MUST,
    precondition="the harness asked, with a valid PSC token, for a scope the client is not allowed",
    fr="Une portée non autorisée pour le client n'est jamais accordée (refus invalid_scope, ou portée "
    "ignorée et portée accordée nommée)",
    en="A scope the client is not allowed is never granted (refused with invalid_scope, or ignored with the "
    "granted scope named)",
)
def unallowed_scope_not_granted(call: Call, unallowed: str) -> Judgement:
    token = issued_token(call)
    if token is None:
        return oauth_refusal(call, f"scope {unallowed!r}")
    evidence = [call.exchange_id]
    body = answer_body(call)
    named = body.get("scope") if isinstance(body, Mapping) else None
    if not isinstance(named, str):
        return failed(
            f"scope {unallowed!r}: a token was issued without naming the scope granted "
            "(RFC 6749 §3.3 requires it when the scope differs from the request)",
            evidence,
        )
    decoded = jose.unverified(token) if token.count(".") == 2 else None
    in_token = decoded[1].get("scope") if decoded is not None else None
    granted = set(named.split()) | set(in_token.split() if isinstance(in_token, str) else ())
    if unallowed in granted:
        return failed(f"scope {unallowed!r}: granted ({named!r}); the client is not allowed it", evidence)
    return passed(f"scope {unallowed!r}: ignored, the answer grants {named!r} (RFC 6749 §3.3)", evidence)


__all__ = [
    "AtPsc",
    "answer_body",
    "api_token_lifetime_1_to_4_hours",
    "at_psc",
    "describe",
    "did_not_answer",
    "exchange_answer_complete",
    "invalid_exchange_request_refused",
    "issued_token",
    "number",
    "oauth_refusal",
    "psc_introspection_post_form_token",
    "psc_introspection_provider_credentials",
    "psc_introspection_published_endpoint",
    "psc_introspection_tls_auth_cli",
    "subject_token_introspected_before_issue",
    "token_sha256",
    "unallowed_scope_not_granted",
    "unusable_subject_token_refused",
    "valid_exchange_issues_token",
]
