"""Transport: the TLS of every link of the SUT, its client certificates, and its own endpoint.

Three kinds of evidence, each read here and judged once:

- what a counterpart's listener saw after the harness switched it to an adversarial mode (a server
  offering only TLS 1.0 / 1.1, or presenting a certificate a client must refuse): `ListenerWatch`.
  The rules about it can only be judged if the SUT *attempted a handshake* with that listener; a
  SUT that never came (a cached token, a connect that timed out before reaching it) is not judged;
- the requests the SUT made to the counterparts over normal listeners (`LinkTraffic`): the TLS
  version they ran over, and the client certificate they presented;
- how the SUT's own API Conformité endpoint answered single-version handshakes (`ProbeResult`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from conformance.campaign.conditions import (
    Condition,
    Judgement,
    Strength,
    condition,
    failed,
    inconclusive,
    judged,
    passed,
)
from conformance.counterparts.observations import Observation
from conformance.evidence.model import Exchange
from conformance.pki import TestPKI

MODERN_VERSIONS: Final = ("TLSv1.2", "TLSv1.3")

IG_PRINCIPLES: Final = "IG Sécurisation transport 1.2.0, principes_securisation.html (confidentialité)"
IG_MTLS: Final = "IG Sécurisation transport 1.2.0, api_prosanteconnectee_web.html (étape 9: mTLS)"
REF_24: Final = "Référentiel PSC v1.8, EXI PSC 24 (TLS ≥ 1.2 to PSC, IGC-Santé ORG AUTH_CLI certificate)"
RFC9110_VERIFY: Final = (
    "RFC 9110 §4.3.4 (a client MUST verify the service identity, RFC 6125 §6, on a chain it trusts)"
)
HANDSHAKE_ATTEMPTED: Final = "the SUT attempted a TLS handshake with the adversarial listener"
# PSC's refusals of a client authentication that are about the certificate presented.
CERTIFICATE_REFUSALS: Final = ("client_auth.no_certificate", "client_auth.cn_mismatch")


# -- evidence -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerWatch:
    """What one counterpart's listener, switched to an adversarial mode, saw of the SUT from the switch on.

    `lps_story` says what the LPS did and got meanwhile (it is the root cause when the SUT never came).
    """

    counterpart: str  # psc, api-as, api
    mode: str  # the ListenerMode, e.g. "tls1.1-only", "expired-cert"
    failed_handshakes: tuple[str, ...]  # one reason per handshake that did not complete
    served: tuple[Exchange, ...]  # requests served over a handshake that completed
    lps_story: str = ""
    lps_evidence: tuple[str, ...] = ()

    @property
    def attempts(self) -> int:
        return len(self.failed_handshakes) + len(self.served)

    @property
    def refused_by_sut(self) -> bool:
        """The SUT came, and none of its handshakes went through."""
        return bool(self.failed_handshakes) and not self.served

    def describe(self) -> str:
        reasons = sorted(set(self.failed_handshakes))
        served = ", ".join(
            f"{e.method} {urlsplit(e.url).path} over {e.tls.version if e.tls else 'an unrecorded version'}"
            for e in self.served
        )
        return (
            f"{self.counterpart} in {self.mode}: {len(self.failed_handshakes)} failed handshake(s)"
            + (f" {reasons}" if reasons else "")
            + f", {len(self.served)} request(s) served"
            + (f" ({served})" if served else "")
        )


@dataclass(frozen=True)
class LinkTraffic:
    """The requests the SUT made to one counterpart (over its normal listener) during a scenario."""

    counterpart: str
    exchanges: tuple[Exchange, ...]
    lps_story: str = ""


# -- the SUT's client side: adversarial servers ---------------------------------------------------------


def _refuses_adversarial_server(watch: ListenerWatch) -> Judgement:
    evidence = [*watch.lps_evidence, *(e.id for e in watch.served)]
    story = f"; LPS: {watch.lps_story}" if watch.lps_story else ""
    if watch.served:
        return failed(
            f"{watch.describe()}: the SUT completed the handshake and sent requests{story}", evidence
        )
    if not watch.failed_handshakes:
        return inconclusive(
            f"{watch.counterpart} in {watch.mode}: the SUT attempted no handshake with it (0 failed, "
            f"0 requests served), so its refusal cannot be judged",
            evidence,
            root_cause=f"the SUT did not contact {watch.counterpart} during the scenario"
            + (f": {watch.lps_story}" if watch.lps_story else ""),
        )
    return passed(f"{watch.describe()}: the SUT ended every handshake itself{story}", evidence)


def _refusal(name: str, requirements: tuple[str, ...], basis: str, fr: str, en: str) -> Condition:
    return condition(
        name,
        requirements,
        basis=basis,
        strength=Strength.MUST,
        precondition=HANDSHAKE_ATTEMPTED,
        fr=fr,
        en=en,
    )(_refuses_adversarial_server)


psc_legacy_tls_refused = _refusal(
    "psc_legacy_tls_refused",
    ("IG-SEC-03", "EXI PSC 24"),
    f"{IG_PRINCIPLES}: TLS 1.0, 1.1 and SSL are forbidden; {REF_24}",
    fr="Face à un PSC limité à TLS 1.0/1.1, le proxy abandonne la poignée de main : aucune requête ne passe",
    en="Facing a PSC limited to TLS 1.0/1.1, the proxy aborts the handshake: no request goes through",
)
psc_server_certificate_verified = _refusal(
    "psc_server_certificate_verified",
    ("EXI PSC 24",),
    f"{REF_24}; {RFC9110_VERIFY}",
    fr="Le proxy refuse un certificat serveur PSC invalide (chaîne inconnue, expiré, autre nom d'hôte)",
    en="The proxy refuses an invalid PSC server certificate (unknown chain, expired, other host name)",
)
api_as_legacy_tls_refused = _refusal(
    "api_as_legacy_tls_refused",
    ("IG-SEC-03",),
    f"{IG_PRINCIPLES}: TLS 1.0, 1.1 and SSL are forbidden",
    fr="Face à un serveur d'autorisation limité à TLS 1.0/1.1, le proxy abandonne la poignée de main",
    en="Facing an authorization server limited to TLS 1.0/1.1, the proxy aborts the handshake",
)
api_as_server_certificate_verified = _refusal(
    "api_as_server_certificate_verified",
    ("IG-SEC-04",),
    f"{IG_MTLS}; {RFC9110_VERIFY}",
    fr="Le proxy refuse un certificat serveur invalide du serveur d'autorisation de l'API",
    en="The proxy refuses an invalid server certificate of the API's authorization server",
)
api_legacy_tls_refused = _refusal(
    "api_legacy_tls_refused",
    ("IG-SEC-03",),
    f"{IG_PRINCIPLES}: TLS 1.0, 1.1 and SSL are forbidden",
    fr="Face à une API limitée à TLS 1.0/1.1, le proxy abandonne la poignée de main : rien n'est relayé",
    en="Facing an API limited to TLS 1.0/1.1, the proxy aborts the handshake: nothing is relayed",
)
api_server_certificate_verified = _refusal(
    "api_server_certificate_verified",
    ("IG-SEC-04",),
    f"{IG_MTLS}; {RFC9110_VERIFY}",
    fr="Le proxy refuse un certificat serveur invalide de l'API : rien n'est relayé",
    en="The proxy refuses an invalid server certificate of the API: nothing is relayed",
)


# -- the SUT's client side: versions negotiated over normal links ---------------------------------------


def _by_version(exchanges: Iterable[Exchange]) -> dict[str, list[str]]:
    versions: dict[str, list[str]] = {}
    for exchange in exchanges:
        if exchange.tls is not None and exchange.tls.version:
            versions.setdefault(exchange.tls.version, []).append(exchange.id)
    return versions


def _no_traffic(traffic: LinkTraffic) -> Judgement:
    return inconclusive(
        f"{traffic.counterpart}: the SUT made no request to it during the scenario, so no link was observed",
        root_cause=f"the SUT did not contact {traffic.counterpart}"
        + (f": {traffic.lps_story}" if traffic.lps_story else ""),
    )


def _summary(traffic: LinkTraffic, versions: dict[str, list[str]]) -> str:
    return f"{traffic.counterpart}: " + ", ".join(
        f"{len(ids)} request(s) over {version}" for version, ids in sorted(versions.items())
    )


@condition(
    "upstream_tls_1_2_or_higher",
    ("IG-SEC-01",),
    basis=f"{IG_PRINCIPLES}: TLS 1.2 at least on every link; for PSC also {REF_24}",
    strength=Strength.MUST,
    precondition="the SUT made requests to the counterpart",
    fr="Chaque liaison du proxy vers PSC, le serveur d'autorisation et l'API est en TLS 1.2 ou plus",
    en="Every link from the proxy to PSC, the authorization server and the API uses TLS 1.2 or higher",
)
def upstream_tls_1_2_or_higher(traffic: LinkTraffic) -> Judgement:
    versions = _by_version(traffic.exchanges)
    if not versions:
        return _no_traffic(traffic)
    old = sorted(v for v in versions if v not in MODERN_VERSIONS)
    evidence = [i for ids in versions.values() for i in ids]
    return judged(
        not old,
        _summary(traffic, versions) + (f" — {', '.join(old)} is below TLS 1.2" if old else ""),
        evidence,
    )


@condition(
    "upstream_tls_1_3",
    ("IG-SEC-02",),
    basis=f"{IG_PRINCIPLES}: TLS 1.3 recommended (TLS 1.2 still accepted)",
    strength=Strength.SHOULD,
    precondition="the SUT made requests to the counterpart",
    fr="Le proxy négocie TLS 1.3 avec PSC, le serveur d'autorisation et l'API (recommandé)",
    en="The proxy negotiates TLS 1.3 with PSC, the authorization server and the API (recommended)",
)
def upstream_tls_1_3(traffic: LinkTraffic) -> Judgement:
    versions = _by_version(traffic.exchanges)
    if not versions:
        return _no_traffic(traffic)
    others = sorted(v for v in versions if v != "TLSv1.3")
    evidence = [i for ids in versions.values() for i in ids]
    return judged(
        not others,
        _summary(traffic, versions)
        + (f" — TLS 1.3 is recommended, {', '.join(others)} is only accepted" if others else ""),
        evidence,
    )


# -- the SUT's client side: client certificates ---------------------------------------------------------


def auth_cli_problems(pki: TestPKI, cert: x509.Certificate) -> list[str]:
    """How `cert` departs from the AUTH_CLI profile of the IGC-Santé ORG offer (empty: it conforms)."""
    problems: list[str] = []
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            problems.append("no clientAuth extended key usage")
    except x509.ExtensionNotFound:
        problems.append("no extended key usage")
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            problems.append("no digitalSignature key usage")
    except x509.ExtensionNotFound:
        problems.append("no key usage")
    if cert.issuer != pki.intermediate.cert.subject:
        problems.append(f"issued by {cert.issuer.rfc4514_string()}")
    return problems


def certificate_owner(pki: TestPKI, x5t: str | None) -> tuple[str | None, list[str]]:
    """x5t#S256 -> (the client id whose AUTH_CLI certificate it is, how it departs from the profile)."""
    if x5t is None:
        return None, ["no client certificate"]
    for client_id, issued in pki.clients.items():
        if issued.x5t_s256 == x5t:
            return client_id, auth_cli_problems(pki, issued.cert)
    return None, [f"certificate {x5t} is none of the PKI's AUTH_CLI client certificates"]


@condition(
    "psc_client_certificate_auth_cli",
    ("EXI PSC 24",),
    basis=REF_24,
    strength=Strength.MUST,
    precondition="the SUT authenticated to PSC during the scenario",
    fr="Chaque authentification à PSC présente le certificat AUTH_CLI de l'IGC du client authentifié",
    en="Every authentication to PSC presents the PKI's AUTH_CLI certificate of the authenticated client",
)
def psc_client_certificate_auth_cli(pki: TestPKI, authentications: Sequence[Observation]) -> Judgement:
    """`authentications`: PSC's `client_auth` observations. The accepted ones and the refusals that are
    about the certificate are judged; how the client authenticated (tls_client_auth rather than a
    secret) is another rule's, evaluated where the connection is judged."""
    relevant = [a for a in authentications if a.kind == "client_auth" or a.kind in CERTIFICATE_REFUSALS]
    if not relevant:
        return inconclusive(
            "no client authentication at PSC was observed",
            root_cause="the SUT did not authenticate to PSC during the scenario",
        )
    lines, bad = [], 0
    for auth in relevant:
        owner, problems = certificate_owner(pki, auth.data.get("certificate_x5t"))
        if auth.kind != "client_auth":
            problems = [auth.detail, *problems]
        if owner is not None and auth.client_id is not None and owner != auth.client_id:
            problems.append(f"the certificate is {owner}'s, the client authenticated as {auth.client_id}")
        bad += bool(problems)
        lines.append(
            f"{auth.data.get('endpoint')} as {auth.client_id}: certificate of {owner}"
            + (f" — {'; '.join(problems)}" if problems else ", AUTH_CLI profile")
        )
    evidence = [a.exchange_id for a in relevant]
    return judged(not bad, f"PSC: {'; '.join(sorted(set(lines)))}", evidence)


@condition(
    "upstream_client_certificate_auth_cli",
    ("IG-SEC-04",),
    basis=f"{IG_MTLS}: mTLS with the IGC-Santé ORG AUTH_CLI certificate to the authorization server "
    "and the API",
    strength=Strength.MUST,
    precondition="the SUT made requests to the counterpart",
    fr="Chaque connexion au serveur d'autorisation et à l'API présente un certificat AUTH_CLI de l'IGC",
    en="Every connection to the authorization server and the API presents an AUTH_CLI certificate of the PKI",
)
def upstream_client_certificate_auth_cli(pki: TestPKI, traffic: LinkTraffic) -> Judgement:
    if not traffic.exchanges:
        return _no_traffic(traffic)
    seen: dict[tuple[str | None, str], list[str]] = {}
    for exchange in traffic.exchanges:
        owner, problems = certificate_owner(pki, exchange.tls.client_x5t_s256 if exchange.tls else None)
        seen.setdefault((owner, "; ".join(problems)), []).append(exchange.id)
    lines = [
        f"{len(ids)} request(s) with the certificate of {owner}" + (f" — {problems}" if problems else "")
        for (owner, problems), ids in seen.items()
    ]
    ok = all(owner is not None and not problems for owner, problems in seen)
    return judged(
        ok,
        f"{traffic.counterpart}: {'; '.join(lines)}"
        + (" — each an AUTH_CLI certificate of the PKI" if ok else ""),
        [i for ids in seen.values() for i in ids],
    )
