"""Ressource : the API PSC serves a valid, bound token over mTLS, and refuses everything else (RFC 6750).

The harness judges the resource server with tokens its own authorization server signs
(`ProviderBench.mint`): the SUT trusts that server for the campaign (counterparts.json `api_as`;
docs/connecting-a-provider.md), so that the harness can forge every classic defect (unsigned, a flipped
signature bit, HS256 keyed with the public key, an unknown key or issuer, a wrong audience, scope,
binding or lifetime) and check that only the valid token opens the API.

A refusal only means something if the same resource server serves a *valid* token: each scenario first
presents one (`rs_serves_valid_harness_token`, a prerequisite); when it is not served, the refusals that
follow prove nothing and are `inconclusive`, never passed.

What counts as a refusal: any answer but a 2xx, or a connection the SUT ended without an answer (a TLS
alert for a certificate it rejects, a reset). A timeout or an endpoint that cannot be reached says
nothing (`Handling.SILENT`): the condition is then inconclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import httpx

from conformance.campaign.conditions import (
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    judged,
    passed,
)
from conformance.evidence.calls import Call
from conformance.standards import rfc6750
from conformance.standards.rfc6750 import Challenge, ChallengeSyntaxError

IG_STEP_12: Final = "IG Sécurisation transport 1.2.0, api_prosanteconnectee_web.html (étape 12)"
ANSWERED: Final = "the resource server answered the call, or ended the connection without an answer"
NOT_TRUSTED_ROOT_CAUSE: Final = (
    "the resource server did not accept a valid token of the harness's authorization server (is it "
    "configured to trust it? docs/connecting-a-provider.md)"
)


class Handling(StrEnum):
    """What the resource server did with a call."""

    SERVED = "served"  # a 2xx answer
    REFUSED = "refused"  # an HTTP answer other than 2xx
    CUT = "cut"  # the connection ended without an answer: a TLS alert, a reset
    SILENT = "silent"  # a timeout, or the endpoint unreachable: the SUT said nothing


def handling(call: Call) -> Handling:
    if call.answer is not None:
        return Handling.SERVED if 200 <= call.answer.status_code < 300 else Handling.REFUSED
    return Handling.SILENT if call.silent else Handling.CUT


@dataclass(frozen=True)
class ApiCall:
    """One call of the resource server: what the harness presented, and what came of it."""

    presented: str  # e.g. "alg none (unsigned), over lps1's certificate"
    call: Call

    @property
    def handling(self) -> Handling:
        return handling(self.call)

    @property
    def status(self) -> int | None:
        return self.call.status

    @property
    def answer(self) -> httpx.Response | None:
        return self.call.answer

    def describe(self) -> str:
        return f"{self.presented}: {self.call.describe()}"

    @property
    def evidence(self) -> list[str | None]:
        return [self.call.exchange_id]


def _silent(trial: ApiCall) -> Judgement:
    return inconclusive(
        f"{trial.describe()}: the resource server gave no answer, it cannot be judged",
        trial.evidence,
        root_cause=f"no answer from the resource server ({trial.call.error or 'timeout'})",
    )


# -- the prerequisite --------------------------------------------------------------------------------------


@condition(
    "rs_serves_valid_harness_token",
    ("EDC-17",),
    basis=f"{IG_STEP_12}: the business call with a valid API token bound (RFC 8705 §3) to the client "
    "certificate of the mTLS connection is served; OpenAPI API PSC (upstream): 200 SignedSessionData",
    strength=Strength.MUST,
    precondition="the SUT trusts the harness's authorization server (counterparts.json api_as)",
    fr="Le serveur de ressources sert un jeton valide du serveur d'autorisation du banc",
    en="The resource server serves a valid token of the harness's authorization server",
)
def rs_serves_valid_harness_token(control: ApiCall) -> Judgement:
    """Used as a prerequisite: when it does not hold, the harness cannot judge any refusal."""
    if control.handling is Handling.SERVED:
        return passed(f"{control.describe()}: served", control.evidence)
    return inconclusive(
        f"{control.describe()}: a valid token of the harness's authorization server was not served, so "
        "the refusals of this scenario would prove nothing",
        control.evidence,
        root_cause=NOT_TRUSTED_ROOT_CAUSE,
    )


# -- refusals ------------------------------------------------------------------------------------------


def _refused(trial: ApiCall, *, expected: int | None = None) -> Judgement:
    """Passed unless the resource server served the call (a 2xx); `expected` is the status the sources
    name for the refusal, noted (not required) when another one came."""
    how = trial.handling
    if how is Handling.SILENT:
        return _silent(trial)
    if how is Handling.SERVED:
        return failed(f"{trial.describe()}: served, where it must be refused", trial.evidence)
    if how is Handling.CUT:
        return passed(f"{trial.describe()}: refused, the connection ended without an answer", trial.evidence)
    status = trial.status
    note = ""
    if status is not None and status >= 500:
        note = " (refused, but with a server error)"
    elif expected is not None and status != expected:
        note = f" (refused; the sources name {expected} for this refusal)"
    return passed(f"{trial.describe()}: refused{note}", trial.evidence)


@condition(
    "rs_refuses_invalid_token",
    ("IG-SEC-21",),
    basis=f"{IG_STEP_12} and standards.html; RFC 6750 §3.1 (invalid_token: expired, revoked, malformed "
    "or invalid for other reasons, answered 401); RFC 7519 §4.1.4-4.1.5 (exp, nbf); RFC 8725 §3.1-3.2 "
    "(no alg none, no algorithm confusion, signature verified); RFC 9068 §4 (iss is the expected issuer)",
    strength=Strength.MUST,
    precondition=ANSWERED,
    fr="Le serveur de ressources refuse un jeton absent, mal formé, mal signé, d'un autre émetteur, "
    "expiré ou pas encore valide",
    en="The resource server refuses a missing, malformed, badly signed, foreign-issuer, expired or "
    "not-yet-valid token",
)
def rs_refuses_invalid_token(trial: ApiCall) -> Judgement:
    return _refused(trial, expected=401)


@condition(
    "rs_refuses_token_for_another_audience",
    ("IG-SEC-22",),
    basis="IG Sécurisation transport 1.2.0, standards.html (aud: the services the token is for); "
    "RFC 7519 §4.1.3 (a recipient not identified in aud MUST reject the JWT); RFC 9068 §4",
    strength=Strength.MUST,
    precondition=ANSWERED,
    fr="Le serveur de ressources refuse un jeton valide émis pour un autre service (aud)",
    en="The resource server refuses a valid token issued for another service (aud)",
)
def rs_refuses_token_for_another_audience(trial: ApiCall) -> Judgement:
    return _refused(trial, expected=401)


@condition(
    "rs_refuses_token_without_api_scope",
    ("IG-SEC-23",),
    basis=f"{IG_STEP_12} (the API checks the token's scopes); RFC 6750 §3.1 (insufficient_scope)",
    strength=Strength.MUST,
    precondition=ANSWERED,
    fr="Le serveur de ressources refuse un jeton valide sans la portée de l'API",
    en="The resource server refuses a valid token without the API's scope",
)
def rs_refuses_token_without_api_scope(trial: ApiCall) -> Judgement:
    return _refused(trial, expected=403)


@condition(
    "rs_refuses_token_bound_elsewhere",
    ("IG-SEC-15",),
    basis=f"{IG_STEP_12} (the API access token carries cnf and the API checks it against the "
    "certificate of the connection); RFC 8705 §3 (the resource server MUST verify that the thumbprint "
    "of the client certificate matches cnf.x5t#S256, and reject the token otherwise)",
    strength=Strength.MUST,
    precondition=ANSWERED,
    fr="Le serveur de ressources refuse un jeton lié à un autre certificat, ou lié à aucun",
    en="The resource server refuses a token bound to another certificate, or to none",
)
def rs_refuses_token_bound_elsewhere(trial: ApiCall) -> Judgement:
    return _refused(trial, expected=401)


@condition(
    "rs_requires_valid_client_certificate",
    ("IG-SEC-25",),
    basis=f"{IG_STEP_12} (the business call is made in mTLS with the IGC-Santé certificate); RFC 8705 "
    "§3 (a bound token is used over mutual TLS); RFC 5280 §6 (path validation: trust anchor, validity, "
    "revocation) and §4.2.1.12 (extended key usage clientAuth)",
    strength=Strength.MUST,
    precondition=ANSWERED,
    fr="Le serveur de ressources refuse un appel sans certificat client, ou avec un certificat invalide "
    "(autre AC, expiré, révoqué, sans usage clientAuth)",
    en="The resource server refuses a call without a client certificate, or with an invalid one "
    "(another CA, expired, revoked, without clientAuth usage)",
)
def rs_requires_valid_client_certificate(trial: ApiCall) -> Judgement:
    """Refused in the TLS handshake or by an HTTP answer: both are conformant (RFC 8705 §2)."""
    return _refused(trial)


@condition(
    "insufficient_scope_answered_403",
    ("IG-SEC-23",),
    basis="RFC 6750 §3.1 (insufficient_scope: the resource server SHOULD respond with 403 Forbidden; the "
    "challenge's error, when present, names the code)",
    strength=Strength.SHOULD,
    precondition="the resource server refused the token without the API's scope with an HTTP answer",
    fr="Un jeton sans la portée de l'API est refusé par un 403 insufficient_scope (recommandé)",
    en="A token without the API's scope is refused with 403 insufficient_scope (recommended)",
)
def insufficient_scope_answered_403(trial: ApiCall) -> Judgement:
    if trial.handling is not Handling.REFUSED or trial.answer is None:
        return inconclusive(
            f"{trial.describe()}: not refused with an HTTP answer (rs_refuses_token_without_api_scope "
            "judges whether it was refused)",
            trial.evidence,
        )
    if trial.status != 403:
        return failed(
            f"{trial.describe()}: RFC 6750 §3.1 recommends 403 for insufficient_scope", trial.evidence
        )
    reading = read_bearer_challenge(trial.answer)
    error = reading.challenge.params.get("error") if reading.challenge is not None else None
    if error is not None and error != rfc6750.INSUFFICIENT_SCOPE:
        return failed(
            f"{trial.describe()}: the challenge says error={error!r}, not {rfc6750.INSUFFICIENT_SCOPE!r}",
            trial.evidence,
        )
    said = f" with error={error!r}" if error else " (no error attribute: optional)"
    return passed(f"{trial.describe()}{said}", trial.evidence)


@condition(
    "rs_cnf_rfc8705_form_only",
    ("IG-SEC-15",),
    basis="project reading of RFC 8705 §3.1 (cnf.x5t#S256 is the base64url-encoded SHA-256 digest of the "
    "DER certificate); the ANS examples write base64 of the hex digest: the same digest, another value, "
    "so accepting it opens no hole but is not RFC 8705",
    strength=Strength.READING,
    precondition=ANSWERED,
    fr="Le serveur de ressources n'accepte cnf.x5t#S256 que sous la forme de RFC 8705 (lecture du projet)",
    en="The resource server accepts cnf.x5t#S256 only in RFC 8705's form (project reading)",
)
def rs_cnf_rfc8705_form_only(trial: ApiCall) -> Judgement:
    how = trial.handling
    if how is Handling.SILENT:
        return _silent(trial)
    if how is Handling.SERVED:
        return failed(
            f"{trial.describe()}: served a token whose cnf.x5t#S256 is the ANS hex form of the certificate's "
            "thumbprint; RFC 8705 §3.1 defines the base64url digest (the project's reading: a warning)",
            trial.evidence,
        )
    return passed(f"{trial.describe()}: the ANS hex form is not taken for RFC 8705's", trial.evidence)


# -- RFC 6750 challenges ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeReading:
    """The Bearer challenge of an answer, or why there is none usable."""

    headers: tuple[str, ...]  # every WWW-Authenticate value, as sent
    challenge: Challenge | None
    problem: str = ""  # "" when a Bearer challenge was found


def read_bearer_challenge(answer: httpx.Response) -> ChallengeReading:
    """The first Bearer challenge of the answer's WWW-Authenticate headers (RFC 9110 §11.6.1: several
    headers, several challenges in one; scheme names are case-insensitive)."""
    headers = tuple(answer.headers.get_list("WWW-Authenticate"))
    if not headers:
        return ChallengeReading(headers, None, "no WWW-Authenticate header")
    challenges: list[Challenge] = []
    for value in headers:
        try:
            challenges += rfc6750.parse_challenges(value)
        except ChallengeSyntaxError as exc:
            return ChallengeReading(headers, None, f"WWW-Authenticate is not a challenge list ({exc})")
    bearer = next((c for c in challenges if c.is_scheme(rfc6750.SCHEME)), None)
    if bearer is None:
        schemes = ", ".join(c.scheme for c in challenges) or "none"
        return ChallengeReading(headers, None, f"no Bearer challenge (schemes: {schemes})")
    return ChallengeReading(headers, bearer)


def _unauthorized(trials: Sequence[ApiCall]) -> list[ApiCall]:
    return [t for t in trials if t.status == 401]


def _no_401(trials: Sequence[ApiCall]) -> Judgement:
    answers = "; ".join(t.describe() for t in trials)
    return inconclusive(
        f"the resource server answered no 401 ({answers}): no challenge to judge",
        [e for t in trials for e in t.evidence],
    )


@condition(
    "rs_401_carries_bearer_challenge",
    ("IG-SEC-24",),
    basis=f"RFC 6750 §3 (a resource server's 401 includes WWW-Authenticate with the Bearer scheme); RFC "
    f"9110 §11.6.1 and §15.5.2 (a 401 MUST carry a WWW-Authenticate challenge); {IG_STEP_12}",
    strength=Strength.MUST,
    precondition="the resource server answered 401 to at least one of the calls",
    fr="Chaque 401 du serveur de ressources porte un défi WWW-Authenticate du schéma Bearer",
    en="Every 401 of the resource server carries a WWW-Authenticate challenge of the Bearer scheme",
)
def rs_401_carries_bearer_challenge(trials: Sequence[ApiCall]) -> Judgement:
    unauthorized = _unauthorized(trials)
    if not unauthorized:
        return _no_401(trials)
    lines, ok = [], True
    for trial in unauthorized:
        assert trial.answer is not None
        reading = read_bearer_challenge(trial.answer)
        ok = ok and reading.challenge is not None
        lines.append(
            f"{trial.describe()}: {reading.problem or 'WWW-Authenticate: ' + '; '.join(reading.headers)}"
        )
    return judged(ok, " | ".join(lines), [e for t in unauthorized for e in t.evidence])


@condition(
    "rs_challenge_error_code_registered",
    ("IG-SEC-24",),
    basis="project reading of RFC 6750 §3.1: the error attribute, optional, names one of invalid_request, "
    "invalid_token, insufficient_scope (§6.2 lets other codes be registered; we expect these)",
    strength=Strength.READING,
    precondition="a 401 of the resource server carried a Bearer challenge",
    fr="Le code error d'un défi Bearer, quand il est présent, est un code de RFC 6750 §3.1 (lecture du "
    "projet)",
    en="The error code of a Bearer challenge, when present, is an RFC 6750 §3.1 code (project reading)",
)
def rs_challenge_error_code_registered(trials: Sequence[ApiCall]) -> Judgement:
    read = [(t, read_bearer_challenge(t.answer)) for t in _unauthorized(trials) if t.answer is not None]
    found = [(t, r.challenge) for t, r in read if r.challenge is not None]
    if not found:
        return inconclusive(
            "no 401 of the resource server carried a Bearer challenge (rs_401_carries_bearer_challenge "
            "judges that)",
            [e for t, _ in read for e in t.evidence],
        )
    codes = [(t, c.params.get("error")) for t, c in found]
    unknown = [
        f"{t.presented}: error={code!r}" for t, code in codes if code and code not in rfc6750.ERROR_STATUS
    ]
    evidence = [e for t, _ in found for e in t.evidence]
    if unknown:
        return failed(
            f"{'; '.join(unknown)}: not an RFC 6750 §3.1 code ({', '.join(rfc6750.ERROR_STATUS)}); the "
            "project's reading",
            evidence,
        )
    said = ", ".join(f"{t.presented}: {code or 'no error attribute'}" for t, code in codes)
    return passed(said, evidence)
