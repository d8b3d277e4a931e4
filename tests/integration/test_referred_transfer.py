"""The peer transfers our call (issue 19, setting ``sip_allow_refer``), against real peers:
the server calls baresip 1002 through Kamailio; baresip's ``transfer`` command sends us a
REFER to 1003, another baresip registered at Kamailio.

- allowed: 202, NOTIFYs (100, then 200), we call 1003 with the same account, the second
  baresip gets the call from us (1001), the first call ends FINISH "Transferred to ...", and
  the stream name carries the new call's media (an aiortc viewer hears 1003's tone);
- default: 603 Decline, the call goes on, nobody calls 1003.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.integration.conftest import HookCollector, WcsFactory
from tests.integration.playback import TONE_HZ
from tests.integration.test_call_participation import wait_for
from tests.integration.test_calls_real_peers import call_body, new_id
from tests.integration.test_srtp_real_peers import assert_tone_plays, find_call, wait_published
from tests.integration.test_webrtc_aiortc import aiortc_on_loopback  # noqa: F401

pytestmark = pytest.mark.peers


@pytest.mark.asyncio
@pytest.mark.usefixtures("aiortc_on_loopback")
async def test_peer_transfers_our_call_to_a_second_baresip(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(tone_hz=440)
    target = callee("1003", tone_hz=TONE_HZ)
    server = wcs(rest_hooks=f"testApp={hooks.url}", sip_allow_refer="true")
    cid, name = new_id(), "transferred"
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user, toStream=name))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    wait_published(server, name)
    peer.ctrl("transfer", kamailio.uri(target.user))
    finish = hooks.wait_status(cid, "FINISH", timeout=30)
    assert finish["info"] == f"Transferred to {kamailio.uri(target.user)}", finish
    steps = hooks.of(cid, "TransferStatusEvent")
    assert [s["status"] for s in steps] == ["ACCEPTED", "TRYING", "COMPLETED"], steps
    assert steps[-1]["referred"] is True and steps[-1]["sipStatus"] == 200
    new = steps[-1]["newCallId"]
    established = hooks.wait_status(new, "ESTABLISHED")
    assert established["callee"] == kamailio.uri(target.user)
    # the second baresip got the call from us, with our account (1001)
    wait_for(lambda: "Call established: sip:1001@" in target.log, 10, "the call at 1003")
    # the peer heard of each step: NOTIFY 100 Trying (with the 202), 180, then 200 OK
    assert [s["sipStatus"] for s in steps] == [202, 180, 200], steps
    notifies = [ln for ln in server.log().splitlines() if ": NOTIFY sip:" in ln]
    assert len(notifies) == 3, notifies
    # the stream name now carries the new call: 1003's tone
    await asyncio.to_thread(wait_published, server, name)
    await assert_tone_plays(server, name)
    assert find_call(server, new)["status"] == "ESTABLISHED"
    assert server.rest("call/terminate", {"callId": new}) == (200, None)
    hooks.wait_status(new, "FINISH")


def test_refer_is_declined_by_default_and_we_keep_the_call(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    """603 Decline; we place no call and never end ours. (baresip 1.0 itself hangs up after
    a failed transfer: its log says "transfer failure: 603 Decline", then its BYE comes.)"""
    peer = callee(media="audio")
    target = callee("1003", media="audio")
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    cid = new_id()
    body = call_body(kamailio, cid, peer.user, hasVideo="false")
    assert server.rest("call/startup", body)[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    peer.ctrl("transfer", kamailio.uri(target.user))
    wait_for(lambda: "SIP/2.0 603 Decline" in server.log(), 10, "603 to the REFER")
    wait_for(lambda: "transfer failure: 603 Decline" in peer.log, 10, "baresip's failure")
    time.sleep(1)  # what a transfer would have done by now: nothing
    assert hooks.of(cid, "TransferStatusEvent") == []
    assert "Incoming call" not in target.log and "Call established" not in target.log
    # the call ended only if the peer hung up: we sent no BYE and called nobody
    sent = [ln for ln in server.log().splitlines() if "SIP out to" in ln]
    assert not any(": BYE sip:" in ln for ln in sent)
    assert sum(": INVITE sip:" in ln for ln in sent) == 2  # ours, then with credentials
    if hooks.statuses(cid)[-1] == "ESTABLISHED":
        assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    finish = hooks.wait_status(cid, "FINISH")
    assert finish["info"] == "Normal call clearing"
