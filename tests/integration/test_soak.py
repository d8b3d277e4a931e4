"""The fuzz/soak target (``bench.soak``, issue 18) in its quick mode: 10^3 mutated SIP
messages (UDP and TCP), 10^3 REST requests from the server's OpenAPI document and 10^3
garbage RTP/RTCP/STUN/DTLS datagrams at a live demo call and its live WebRTC viewer.

Nothing may crash, answer 5xx, leave a request unanswered or hanging, or break the probe;
the call must still be ESTABLISHED and its viewer receiving at the end; fds and asyncio
tasks must be back where they were, RSS within ``RSS_BOUND_MB``. Seeded: the same inputs
every run. The full run (10^5 of each) is ``python3 -m bench.soak``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.soak import QUICK, pool_size, soak, summary

SEED = 18


def test_quick_soak_finds_nothing(tmp_path: Path) -> None:
    report = asyncio.run(soak(QUICK, SEED, tmp_path, pool_size(QUICK)))
    print(summary(report))
    # Everything was really sent, and aimed at the live call's ports and the viewer's.
    assert report.sip["udp_sent"] + report.sip["tcp_sent"] == QUICK
    assert report.sip["answers_udp"] > 0 and report.sip["answered_tcp_bytes"] > 0
    assert report.rest["requests"] == QUICK
    assert report.rest["created"].get("call", 0) > 0 and report.rest["sink_invites"] > 0
    assert report.media["total"] == QUICK
    assert len(report.media["ports"]) >= 5  # audio and video RTP+RTCP, the viewer's ICE port
    assert report.media["ice_port"] in report.media["ports"]
    assert report.probe["sent"] > 0
    assert report.findings() == [], summary(report)
