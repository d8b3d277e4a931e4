"""The built-in page answers and rejects incoming calls (issue 12): the server registers as
1003 at Kamailio with ``answer = ring``; baresip 1001 dials it; headless Chromium on ``/``
presses Answer (the call becomes ESTABLISHED) or Reject (baresip sees 486)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import WcsFactory, WcsProcess
from tests.integration.inbound_helpers import Backend, incoming_call, register
from tests.integration.test_demo_page import node_path
from tests.peers.chromium import HEADLESS_FLAGS, Chromium

pytestmark = pytest.mark.peers

DRIVER = Path(__file__).with_name("inbound_page.cjs")


def press(server: WcsProcess, chromium: Chromium, tmp: Path, cid: str, action: str) -> Any:
    node = shutil.which("node")
    assert node, "node is needed to drive Chromium with playwright-core"
    flags = [f for f in HEADLESS_FLAGS if f != "--headless"]
    env = dict(os.environ, NODE_PATH=node_path(), HOME=str(tmp))
    proc = subprocess.run(
        [node, str(DRIVER), server.base + "/", cid, action, str(tmp / f"udd-{action}"),
         chromium.path, json.dumps(flags)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout + proc.stderr
    result = json.loads(line.split(" ", 1)[1])
    assert result["ok"], (result, proc.stderr)
    assert result["buttons"] == ["Answer", "Reject", "Hang up"]
    assert "RING" in result["ringingRow"] and "in: 1001" in result["ringingRow"]
    return result


def test_page_answers_one_ringing_call_and_rejects_another(
    kamailio: Any,
    caller: Any,
    wcs: WcsFactory,
    backend: Backend,
    chromium: Chromium,
    tmp_path: Path,
) -> None:
    server = wcs(rest_hooks=f"testApp={backend.url}")
    register(server, kamailio, answer="ring")
    peer = caller(user="1001")
    result = peer.call_in_background("1003", hold_s=2, timeout_s=60)
    cid = incoming_call(server)["callId"]
    backend.wait_status(cid, "RING")
    press(server, chromium, tmp_path, cid, "Answer")
    backend.wait_status(cid, "ESTABLISHED")
    res = result.result(60)
    assert res.ringing and res.established
    backend.wait_status(cid, "FINISH")

    result = peer.call_in_background("1003", hold_s=2, timeout_s=60)
    cid2 = incoming_call(server)["callId"]
    assert cid2 != cid
    backend.wait_status(cid2, "RING")
    press(server, chromium, tmp_path, cid2, "Reject")
    res = result.result(60)
    assert res.ringing and not res.established
    assert res.status == 486, res.closed  # the caller sees the page's status
    finished = backend.wait_status(cid2, "FINISH")
    assert finished["sipStatus"] == 486
    assert backend.statuses(cid2) == ["RING", "FINISH"]
