"""``wcs call --wait-incoming --answer`` against the real peers: the server registers as 1003
at Kamailio with ``answer = ring``; the command waits, baresip 1001 dials 1003, the command
answers it, prints its events (a key the caller presses included) and exits 0 when the
caller hangs up. ``wcs calls --watch`` shows the live call meanwhile."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest

from tests.integration.conftest import WcsFactory
from tests.integration.inbound_helpers import Backend, incoming_call, register
from wcs.cli import calls as cli_calls
from wcs.cli import watch
from wcs.cli.main import build_parser

pytestmark = pytest.mark.peers


def test_wait_incoming_answers_and_follows_the_call(
    kamailio: Any, caller: Any, wcs: WcsFactory, backend: Backend
) -> None:
    server = wcs(rest_hooks=f"testApp={backend.url}")
    register(server, kamailio, answer="ring", toStream="cli-{caller}")
    args = build_parser().parse_args(
        ["call", "--wait-incoming", "--answer", "--timeout", "60", "--server", server.base]
    )
    out = io.StringIO()
    result: list[int] = []
    waiter = threading.Thread(target=lambda: result.append(cli_calls.run_call(args, out)))
    waiter.start()
    try:
        while "waiting for an incoming call" not in out.getvalue():
            waiter.join(0.05)
            assert waiter.is_alive(), out.getvalue()
        call = caller(user="1001").call_in_background("1003", hold_s=3, timeout_s=30, keys="7")
        cid = incoming_call(server)["callId"]
        backend.wait_status(cid, "ESTABLISHED")  # answered by the command
        # meanwhile: one frame of ``wcs calls --watch`` lists the call
        frame = io.StringIO()
        watch_args = build_parser().parse_args(["calls", "--watch", "--server", server.base])

        def stop(_s: float) -> None:
            raise KeyboardInterrupt

        assert watch.watch_calls(watch_args, cli_calls.calls_table, frame, sleep=stop) == 0
        row = next(ln for ln in frame.getvalue().splitlines() if ln.startswith(cid))
        assert row.split()[1:7] == ["ESTABLISHED", "200", "1003", "1001", "in", "cli-1001"]
        assert call.result(40).established
    finally:
        waiter.join(60)
    text = out.getvalue()
    assert result == [0], text
    lines = text.splitlines()
    assert lines[1] == f"incoming call {cid} from 1001 to 1003 (stream cli-1001)"
    events = [ln.split("] ", 1)[1] for ln in lines if ln.startswith("[")]
    assert events[0].startswith("RING") and events[1].startswith("ESTABLISHED")
    assert "key 7 (RFC2833)" in events
    assert events[-1].startswith("FINISH")
    assert lines[-1] == "call ended"
