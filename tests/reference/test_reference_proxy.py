"""The reference proxy does what a conformant Proxy e-Santé does, seen from both of its sides."""

from __future__ import annotations

import datetime as dt

from conformance.pki import LPS1_CLIENT_ID

PS1 = "899900000019"
CONNECT = {"nationalId": PS1, "bindingMessage": "42", "clientId": LPS1_CLIENT_ID, "channel": "MOBILE"}


def test_connect_send_traces_disconnect(bench) -> None:  # type: ignore[no-untyped-def]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with bench.lps() as lps:
        connected = lps.post("/connect", json=CONNECT)
        assert connected.status_code == 200, connected.text
        session = connected.json()
        assert set(session) == {"proxy_session_id", "session_state"}
        assert lps.cookies.get("proxy_session_id") == session["proxy_session_id"]
        replay = lps.post("/connect", json=CONNECT)
        assert replay.status_code == 304
        body = {
            "nationalId": PS1,
            "clientID": LPS1_CLIENT_ID,
            "proxy_session_id": session["proxy_session_id"],
            "session_state": session["session_state"],
        }
        signed = lps.post("/send/apipsc/signsessiondata", json=body)
        assert signed.status_code == 200, signed.text
        assert bench.counterparts.api.verify_signature(signed.json())
        traces = lps.get("/traces", params={"start": start.isoformat()}).json()
        assert [t["type"] for t in traces] == ["CONNECT_SUCCESS", "CONNECT_REPLAY", "SEND"]
        assert {t["IdRPPS"] for t in traces} == {PS1}
        assert traces[-1]["apiRequest"] == {
            "nomApiPsc": "apipsc",
            "methode": "POST",
            "path": "/signsessiondata",
        }
        assert lps.delete("/disconnect").status_code == 200
        assert lps.post("/send/apipsc/signsessiondata", json=body).status_code == 401
    kinds = [o.kind for o in bench.counterparts.observations]
    deviations = [
        o
        for o in bench.counterparts.observations
        if o.kind
        not in {
            "client_auth",
            "ciba.request",
            "ciba.poll",
            "token.issued",
            "introspection",
            "token_exchange.issued",
            "api.call",
            "logout",
        }
    ]
    assert deviations == [], deviations
    assert "logout" in kinds
