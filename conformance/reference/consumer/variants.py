"""Allowed variants of the reference Proxy e-Santé: what the sources allow and the reference does not choose.

The dual of the faults (`faults.py`): a campaign against the reference proxy with any variant
applied must fail nothing, because every variant is something a conformant proxy may do. Each
entry names its `basis`, the source and clause that allow it (an RFC, the transport-security IG
1.2.0, the Référentiel PSC v1.8, the upstream OpenAPI documents of the API Conformité and the API
PSC), and most are what real proxies do, starting with ANS's example proxy
(`ansforge/psc-edc-proxy-esante`), which most vendors start from.

A variant is applied like a fault, by replacing seams of one proxy instance (`injection.py`); the
reference's own choice is in the docstring of the seam it replaces. `settings` are proxy settings
a variant needs from the start (the upstream timeout the campaign must be told about): the
launcher writes them into the proxy's TOML file and declares them to the bench.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography import x509

from conformance.reference.consumer.exchange import JWT_TOKEN_TYPE
from conformance.reference.consumer.injection import (
    Catalogue,
    change_exchange_form,
    change_server_context,
    replace_seam,
    reset_upstream_clients,
    seam,
)
from conformance.reference.consumer.proxy import ReferenceProxy
from conformance.reference.consumer.psc_client import PscTokens
from conformance.reference.consumer.sessions import Session
from conformance.reference.consumer.upstream import UpstreamUnavailable, call
from conformance.reference.https import Request, Response
from conformance.reference.registry import Variant
from conformance.roles import Role

# -- PSC --------------------------------------------------------------------------------------------


def _ciba_first_poll_immediate(proxy: ReferenceProxy) -> None:
    def first_poll_delay(interval: float) -> float:
        return 0.0

    replace_seam(proxy.psc, "first_poll_delay", first_poll_delay)


def _psc_logout_by_post(proxy: ReferenceProxy) -> None:
    psc = proxy.psc

    def end_session(client_id: str, tokens: PscTokens) -> None:
        call(
            proxy.identities.http(client_id),
            "POST",
            psc.discovery()["end_session_endpoint"],
            data=psc.end_session_params(client_id, tokens),
        )

    replace_seam(psc, "end_session", end_session)


def _psc_refresh_on_every_send(proxy: ReferenceProxy) -> None:
    def refresh_on_activity(session: Session) -> None:
        proxy.refresh_psc_if_needed(session)

    replace_seam(proxy, "refresh_on_activity", refresh_on_activity)


# -- token exchange and business call ---------------------------------------------------------------


def _exchange_subject_token_type_jwt(proxy: ReferenceProxy) -> None:
    change_exchange_form(proxy, lambda form: form.update(subject_token_type=JWT_TOKEN_TYPE))


def _exchange_with_subject_issuer(proxy: ReferenceProxy) -> None:
    change_exchange_form(proxy, lambda form: form.update(subject_issuer="psc"))


def _api_exchange_at_first_send(proxy: ReferenceProxy) -> None:
    def initial_api_tokens(identity: str, tokens: PscTokens) -> dict[str, Any]:
        return {}  # api_token() exchanges on the first /send to each API

    replace_seam(proxy, "initial_api_tokens", initial_api_tokens)


def _api_5xx_relayed(proxy: ReferenceProxy) -> None:
    def api_failure(api_name: str, answer: httpx.Response) -> UpstreamUnavailable | None:
        return None  # the API answered: its status and body go back as they are

    replace_seam(proxy, "api_failure", api_failure)


UPSTREAM_TIMEOUT_30S = 30.0


def _upstream_timeout_30s(proxy: ReferenceProxy) -> None:
    def timeout() -> float:
        return UPSTREAM_TIMEOUT_30S

    replace_seam(proxy.identities, "timeout", timeout)
    reset_upstream_clients(proxy)


# -- API Conformité: /connect and error descriptors ------------------------------------------------------


def _binding_message_any_string(proxy: ReferenceProxy) -> None:
    def binding_message_accepted(binding_message: str) -> bool:
        return True

    replace_seam(proxy, "binding_message_accepted", binding_message_accepted)


def _connect_refusal_as_500(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "connect_failure")

    def connect_failure(failure: Exception, metadata: dict[str, Any]) -> Response:
        if isinstance(failure, UpstreamUnavailable):
            answer: Response = original(failure, metadata)
            return answer
        key = "id_token_rejected" if isinstance(failure, jwt.InvalidTokenError) else "refused"
        return proxy.descriptor(500, proxy.wording(key, detail=failure), metadata)

    replace_seam(proxy, "connect_failure", connect_failure)


FRENCH_MESSAGES = {
    "method_not_allowed": "méthode {method} non autorisée sur {path}",
    "no_such_endpoint": "point d'accès inconnu : {path}",
    "body_not_object": "Le corps de la requête doit être un objet JSON.",
    "missing_fields": "Champ(s) absent(s) ou invalide(s) : {fields}.",
    "bad_channel": "channel doit valoir CARD ou MOBILE.",
    "bad_binding_message": "bindingMessage doit comporter deux chiffres (00 à 99).",
    "unknown_client": "Identifiant national ou identifiant client du logiciel inconnu.",
    "no_session": "Aucune session trouvée.",
    "unknown_api": "API {api!r} inconnue.",
    "api_unavailable": "API {api} indisponible : {detail}",
    "session_not_found": "Identifiant de session introuvable.",
    "bad_trace_bounds": "start (obligatoire) et end doivent être des dates ISO 8601.",
    "id_token_rejected": "Jeton d'identité PSC refusé : {detail}",
    "refused": "Authentification refusée : {detail}",
}


def _error_messages_in_french(proxy: ReferenceProxy) -> None:
    def wording(key: str, **values: object) -> str:
        return FRENCH_MESSAGES[key].format(**values)

    replace_seam(proxy, "wording", wording)


def _error_metadata_without_nulls(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "descriptor")

    def descriptor(status: int, message: str, metadata: dict[str, Any] | None = None) -> Response:
        kept = None if metadata is None else {k: v for k, v in metadata.items() if v is not None}
        answer: Response = original(status, message, kept)
        return answer

    replace_seam(proxy, "descriptor", descriptor)


def _error_metadata_original_types(proxy: ReferenceProxy) -> None:
    def echoed_metadata(body: dict[str, Any]) -> dict[str, Any]:
        return {key: body.get(key) for key in ("nationalId", "clientId")}

    replace_seam(proxy, "echoed_metadata", echoed_metadata)


def _session_cookie_samesite_lax(proxy: ReferenceProxy) -> None:
    def cookie_attributes() -> str:
        return "Path=/; Secure; HttpOnly; SameSite=Lax"

    replace_seam(proxy, "cookie_attributes", cookie_attributes)


def _api_conformite_tls_1_3_only(proxy: ReferenceProxy) -> None:
    def tls_1_3_only(context: ssl.SSLContext) -> None:
        context.minimum_version = ssl.TLSVersion.TLSv1_3

    change_server_context(proxy, tls_1_3_only)


# -- API Conformité: traces --------------------------------------------------------------------------------


def _trace_timestamps_utc_z(proxy: ReferenceProxy) -> None:
    def timestamp(instant: dt.datetime) -> str:
        return instant.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    replace_seam(proxy.traces, "timestamp", timestamp)


def _traces_inclusive_bounds(proxy: ReferenceProxy) -> None:
    def within(instant: dt.datetime, start: dt.datetime, end: dt.datetime) -> bool:
        return start <= instant <= end

    replace_seam(proxy.traces, "within", within)


def _trace_extra_fields(proxy: ReferenceProxy) -> None:
    original = seam(proxy.traces, "presented")

    def presented(record: dict[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = original(record)
        return {"id": str(uuid.uuid4()), **shown, "level": "INFO"}

    replace_seam(proxy.traces, "presented", presented)


def _trace_api_request_null(proxy: ReferenceProxy) -> None:
    original = seam(proxy.traces, "presented")

    def presented(record: dict[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = original(record)
        return {**shown, "apiRequest": shown.get("apiRequest")}

    replace_seam(proxy.traces, "presented", presented)


def _failure_trace_without_dn(proxy: ReferenceProxy) -> None:
    original = seam(proxy.traces, "record")

    def record(event: str, **fields: Any) -> None:
        if event == "CONNECT_FAILURE":
            fields = {**fields, "dn": None}
        original(event, **fields)

    replace_seam(proxy.traces, "record", record)


def _trace_ip_ipv4_mapped(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "caller_ip")

    def caller_ip(request: Request) -> str:
        ip: str = original(request)
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return ip
        return f"::ffff:{address}" if address.version == 4 else ip

    replace_seam(proxy, "caller_ip", caller_ip)


def _trace_dn_java_form(proxy: ReferenceProxy) -> None:
    def subject(client_id: str) -> str:
        pem = proxy.settings.clients[client_id].cert.read_bytes()
        name = x509.load_pem_x509_certificate(pem).subject
        return ", ".join(rdn.rfc4514_string() for rdn in reversed(name.rdns))

    replace_seam(proxy.identities, "subject", subject)


def _send_trace_upstream_path(proxy: ReferenceProxy) -> None:
    original = seam(proxy, "api_request")

    def api_request(api_name: str, method: str, endpoint: str) -> dict[str, str]:
        request: dict[str, str] = original(api_name, method, endpoint)
        base_path = urlsplit(proxy.settings.apis[api_name].base_url).path.rstrip("/")
        return {**request, "path": f"{base_path}/{endpoint}"}

    replace_seam(proxy, "api_request", api_request)


# -- the catalogue ---------------------------------------------------------------------------------------

UPSTREAM_API_CONFORMITE = "OpenAPI API Conformité (upstream, ansforge/psc-edc-proxy-esante)"

_CATALOGUE = (
    # PSC
    Variant(
        "ciba_first_poll_immediate",
        "OpenID CIBA Core 1.0 §7.3 and RFC 8628 §3.5: interval is the minimum wait *between* polling "
        "requests; nothing delays the first token request after the acknowledgement",
        "The first CIBA poll follows PSC's acknowledgement at once; interval is waited between polls only.",
        _ciba_first_poll_immediate,
    ),
    Variant(
        "psc_logout_by_post",
        "OpenID Connect RP-Initiated Logout 1.0 §2: the OP must support both GET and POST at the "
        "end_session_endpoint; with POST the parameters are form-serialised",
        "PSC's end-session endpoint is called by POST with a form body (id_token_hint, client_id) "
        "instead of GET with a query string.",
        _psc_logout_by_post,
    ),
    Variant(
        "psc_refresh_on_every_send",
        "Référentiel PSC v1.8 EXI PSC 11: refresh the PSC authentication only while the user is active; "
        "a /send is the LPS's activity, and how long before expiry to refresh is the proxy's choice",
        "On every /send, the PSC tokens are refreshed when they are within the refresh margin of expiry, "
        "even if the API token is still valid (never in the background).",
        _psc_refresh_on_every_send,
    ),
    # Token exchange and business call
    Variant(
        "exchange_subject_token_type_jwt",
        "IG 1.2.0 (token exchange) and RFC 8693 §3: subject_token_type may be "
        "urn:ietf:params:oauth:token-type:jwt as well as …:access_token; the PSC access token is a JWT",
        "The token exchange declares subject_token_type urn:ietf:params:oauth:token-type:jwt.",
        _exchange_subject_token_type_jwt,
    ),
    Variant(
        "exchange_with_subject_issuer",
        "RFC 6749 §3.2: the authorization server MUST ignore unrecognized request parameters (RFC 8693 "
        "§2.1 builds on it); the ANS example proxy sends subject_issuer=psc",
        "The token exchange carries an extra subject_issuer=psc parameter, as the ANS example proxy sends.",
        _exchange_with_subject_issuer,
    ),
    Variant(
        "api_exchange_at_first_send",
        "RFC 8693 §2 and IG 1.2.0 fix how the PSC token is exchanged, not when: an API token may be "
        "obtained when the LPS first calls that API",
        "/connect exchanges no token; the PSC access token is exchanged for an API's token at the first "
        "/send to that API.",
        _api_exchange_at_first_send,
    ),
    Variant(
        "api_5xx_relayed",
        f"{UPSTREAM_API_CONFORMITE}: /send lists 500 among its answers; 502, 503 and 504 (EDC-07) are "
        "for the proxy's own failure to reach the API (refused connection, TLS failure, no answer in time)",
        "An API's own 5xx answer is relayed as it is (status and body), like its 2xx and 4xx; only a "
        "failure to reach the API gives 502, 503 or 504.",
        _api_5xx_relayed,
    ),
    Variant(
        "upstream_timeout_30s",
        f"No source fixes the proxy's upstream timeout ({UPSTREAM_API_CONFORMITE}: /send only declares "
        "504 Gateway Timeout); the campaign is told the bound by [sut.declared] upstream_timeout_s",
        f"Every call to PSC, the authorization server and the API is bounded by "
        f"{UPSTREAM_TIMEOUT_30S:g} s instead of the configured http_timeout_s.",
        _upstream_timeout_30s,
        settings={"http_timeout_s": UPSTREAM_TIMEOUT_30S},
    ),
    # API Conformité: /connect and error descriptors
    Variant(
        "binding_message_any_string",
        f"{UPSTREAM_API_CONFORMITE}: connection.bindingMessage is a plain string, the two digits are "
        "only its description; CIBA Core 1.0 §7.1: binding_message is a short human-readable text",
        "bindingMessage is not checked against two digits: any non-empty string goes to PSC (as the ANS "
        "example proxy does).",
        _binding_message_any_string,
    ),
    Variant(
        "connect_refusal_as_500",
        f"{UPSTREAM_API_CONFORMITE}: /connect declares 200, 304, 400, 404, 500 and 503, no 401; a "
        "refused authentication may be answered 500 with a descriptor",
        "A /connect that PSC or the authorization server refuses (access_denied, expired_token, a "
        "rejected ID token) is answered 500 with the error descriptor instead of 401.",
        _connect_refusal_as_500,
    ),
    Variant(
        "error_messages_in_french",
        f"{UPSTREAM_API_CONFORMITE}: the descriptor's message is a free string; Référentiel PSC v1.8 "
        "EXI PSC 03: the service is offered in French",
        "The error descriptors' messages are worded in French.",
        _error_messages_in_french,
    ),
    Variant(
        "error_metadata_without_nulls",
        f"{UPSTREAM_API_CONFORMITE}: the metadata of the 400 and 404 descriptors has no required "
        "member; the ANS example serialises it with @JsonInclude(NON_NULL)",
        "Null metadata members are left out of error descriptors: a request without nationalId gets "
        'metadata {"clientId": …}, one without either gets metadata {}.',
        _error_metadata_without_nulls,
    ),
    Variant(
        "error_metadata_original_types",
        f"{UPSTREAM_API_CONFORMITE}: metadata.nationalId and metadata.clientId are not typed string "
        "(declared `object`); the metadata echoes what the LPS sent",
        "The descriptor's metadata echoes the rejected nationalId and clientId with their original JSON "
        "type (a number stays a number) instead of null.",
        _error_metadata_original_types,
    ),
    Variant(
        "session_cookie_samesite_lax",
        "Référentiel PSC v1.8 RECO PSC 06 and RFC 6265 §5.3: only the absence of Expires/Max-Age makes a "
        "session cookie; SameSite is the proxy's choice (Spring's session cookie, in the ANS example, is "
        "SameSite=Lax)",
        "The session cookie is sent with SameSite=Lax instead of Strict (still Secure, HttpOnly, no expiry).",
        _session_cookie_samesite_lax,
    ),
    Variant(
        "api_conformite_tls_1_3_only",
        "IG 1.2.0: TLS 1.2 at least (IG-SEC-01), TLS 1.3 recommended (IG-SEC-02); an endpoint that "
        "speaks only TLS 1.3 satisfies both",
        "The API Conformité's own endpoint accepts TLS 1.3 only.",
        _api_conformite_tls_1_3_only,
    ),
    # API Conformité: traces
    Variant(
        "trace_timestamps_utc_z",
        "RFC 3339 §5.6: `Z` is the UTC offset; the trace timestamp is a date-time (Jackson writes a UTC "
        "OffsetDateTime with Z)",
        "Trace timestamps are written in UTC with the Z designator (2026-11-22T06:48:31.932Z).",
        _trace_timestamps_utc_z,
    ),
    Variant(
        "traces_inclusive_bounds",
        f"{UPSTREAM_API_CONFORMITE}: /traces start and end are the traces 'newer' and 'older' than them, "
        "without saying whether a record stamped exactly at a bound is included",
        "/traces returns the records with start <= timestamp <= end instead of start < timestamp < end.",
        _traces_inclusive_bounds,
    ),
    Variant(
        "trace_extra_fields",
        f"{UPSTREAM_API_CONFORMITE}: /traces answers a free object, and no schema forbids extra "
        "members (the ANS example adds `ports`)",
        "Every trace record carries two extra members, a record id and a level.",
        _trace_extra_fields,
    ),
    Variant(
        "trace_api_request_null",
        f"{UPSTREAM_API_CONFORMITE}: no trace schema; a serialiser without NON_NULL writes an absent "
        "optional member as null",
        "Records other than SEND carry apiRequest: null instead of no apiRequest member.",
        _trace_api_request_null,
    ),
    Variant(
        "failure_trace_without_dn",
        f"{UPSTREAM_API_CONFORMITE}: no trace schema; the ANS example records dn null when the failed "
        "connection left no session credential",
        "CONNECT_FAILURE records carry dn: null (the other records still carry the certificate's subject).",
        _failure_trace_without_dn,
    ),
    Variant(
        "trace_ip_ipv4_mapped",
        f"{UPSTREAM_API_CONFORMITE}: ipAddress is a plain string; RFC 4291 §2.5.5.2: a dual-stack socket "
        "sees an IPv4 peer as an IPv4-mapped IPv6 address",
        "The caller's IPv4 address is traced in IPv4-mapped IPv6 form (::ffff:127.0.0.1).",
        _trace_ip_ipv4_mapped,
    ),
    Variant(
        "trace_dn_java_form",
        f"{UPSTREAM_API_CONFORMITE}: no trace schema, so no string form of dn; Java proxies such as the "
        "ANS example write X500Principal.toString(), the same name with ', ' between its RDNs",
        "Trace records give the certificate's subject as Java prints it (CN=…, OU=…, O=…, C=FR) instead "
        "of the RFC 4514 form without spaces.",
        _trace_dn_java_form,
    ),
    Variant(
        "send_trace_upstream_path",
        f"{UPSTREAM_API_CONFORMITE}: no trace schema; a gateway route that rewrites to the API's base path "
        "(SetPath=/mockservice/apipsc/{endpoint}) traces the full path at the API",
        "The SEND record's apiRequest.path is the full path at the API, its base path included "
        "(/mockservice/apipsc/signsessiondata), not the path below the base URL.",
        _send_trace_upstream_path,
    ),
)

VARIANT_CATALOGUE: Catalogue[Variant] = Catalogue("variant", _CATALOGUE)
VARIANTS: dict[str, Variant] = VARIANT_CATALOGUE.entries


def variants_for_role(role: Role | str) -> list[Variant]:
    """The variants of the reference SUT of `role`, in catalogue order."""
    return VARIANT_CATALOGUE.for_role(role)


def check_variant_names(names: Iterable[str], role: Role | str = Role.CONSUMER) -> list[str]:
    """The names, without repeats; an unknown one is a UsageError naming the closest and the known ones."""
    return VARIANT_CATALOGUE.check_names(names, role)


def apply_variants(proxy: ReferenceProxy, names: Sequence[str]) -> None:
    """Apply the named variants to `proxy`, before or after it starts; all names are checked first."""
    VARIANT_CATALOGUE.apply(proxy, names, Role.CONSUMER)


def variant_settings(names: Iterable[str]) -> dict[str, float]:
    """The proxy settings the named variants need (checked names; a later variant wins)."""
    settings: dict[str, float] = {}
    for name in check_variant_names(names):
        settings.update(VARIANTS[name].settings)
    return settings


__all__ = [
    "VARIANTS",
    "VARIANT_CATALOGUE",
    "Variant",
    "apply_variants",
    "check_variant_names",
    "variant_settings",
    "variants_for_role",
]
