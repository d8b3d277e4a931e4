"""The PIN of an incoming call against the real peers: the server registers as 1003 at
Kamailio with ``pin``; baresip 1001 dials it and keys (RFC 4733, ``sndcode``) the right PIN,
a wrong one, or nothing. The stream is published only after the right PIN + ``#``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import WcsFactory, WcsProcess
from tests.integration.inbound_helpers import (
    Backend,
    incoming_call,
    published,
    register,
    wait_until,
)

pytestmark = pytest.mark.peers


def pin_server(wcs: WcsFactory, backend: Backend, kamailio: Any, **dispatch: Any) -> WcsProcess:
    server = wcs(rest_hooks=f"testApp={backend.url}")
    register(server, kamailio, pin="1234", toStream="pin-{caller}", **dispatch)
    status, regs = server.rest("sip/find_all")
    assert status == 200 and regs[0]["pinRequired"] is True
    assert "1234" not in str(regs)  # the PIN is a secret
    return server


def stream_statuses(backend: Backend, name: str) -> list[str]:
    return [e["status"] for e in backend.of("StreamStatusEvent") if e.get("name") == name]


def test_right_pin_publishes_the_stream(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = pin_server(wcs, backend, kamailio)
    result = caller(user="1001").call_in_background("1003", hold_s=8, timeout_s=20, keys="1234#")
    cid = incoming_call(server)["callId"]
    backend.wait_status(cid, "ESTABLISHED")
    published(server, "pin-1001")
    status, found = server.rest("call/find", {"callId": cid})
    assert status == 200 and found[0]["status"] == "ESTABLISHED"
    assert "".join(k["dtmf"] for k in found[0]["dtmf"]) == "1234#"
    res = result.result(40)
    assert res.established
    finished = backend.wait_status(cid, "FINISH")  # the caller hung up after hold_s
    assert finished["incoming"] is True
    assert stream_statuses(backend, "pin-1001")[0] == "PUBLISHING"


@pytest.mark.parametrize(
    ("keys", "info"), [("9999#", "Wrong PIN"), ("", "No PIN within 3 s")], ids=["wrong", "missing"]
)
def test_wrong_or_missing_pin_hangs_up(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend, keys: str, info: str
) -> None:
    server = pin_server(wcs, backend, kamailio, pinTimeout=3)
    peer = caller(user="1001", sip_trace=True)
    result = peer.call_in_background("1003", hold_s=60, timeout_s=20, keys=keys)
    cid = incoming_call(server)["callId"]
    backend.wait_status(cid, "ESTABLISHED")
    failed = backend.wait_status(cid, "FAILED")
    assert failed["info"] == info
    res = result.result(30)
    assert res.established and res.closed is not None  # our BYE ended it, not hold_s
    assert backend.statuses(cid) == ["ESTABLISHED", "FAILED"]
    cause = 403 if keys else 408  # the BYE says why (RFC 3326), through Kamailio
    reason = f'Reason: SIP;cause={cause};text="{info}"'
    wait_until("the BYE in the caller's SIP trace", lambda: reason in peer.log, 10)
    # the stream was never published: no viewer, recording or push saw the call
    assert stream_statuses(backend, "pin-1001") == []
    pressed = [e["dtmf"] for e in backend.of("DTMFEvent") if e["callId"] == cid]
    assert "".join(pressed) == keys  # each key once (DTMFEvent hook), then our BYE
