"""RFC 4733 keys sent to a SIPp callee, on the answer's payload type and clock (issue 19).

baresip 1.0 answers ``telephone-event/8000`` even in an Opus call, so the baresip tests show
the keys arriving but not the 48 kHz event clock. SIPp answers what its scenario says: the
server calls it directly (its outbound proxy is SIPp's address, no registrar) and SIPp
answers ``opus/48000/2`` with ``telephone-event/48000`` on PT 110, or ``PCMU`` with
``telephone-event/8000`` on PT 100 — neither the PT we offered. Then ``/call/send_dtmf
"159#"`` (RFC2833), and a loopback capture of our RTP toward SIPp shows: events only on the
answer's PT, on the audio's SSRC and sequence; the marker on each event's first packet;
one RTP timestamp per event, on the audio clock's 20 ms grid; durations growing by 20 ms of
the negotiated clock (960 at 48 kHz, 160 at 8 kHz) up to the tone length; three end packets
(E bit) with the same duration; the keys decoded from the packets are "159#", each once.
SIPp's statistics show its call completed without error (our BYE answered).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.integration.conftest import HookCollector, WcsFactory, call_body
from tests.integration.inbound_helpers import wait_until
from tests.integration.sipp_helpers import Rtp, ended_events, rtp_sent_to
from tests.peers.capture import Capture
from wcs.media.dtmf import DtmfSettings

pytestmark = pytest.mark.peers

KEYS = "159#"
EVENT_KEYS = "0123456789*#ABCD"  # RFC 4733 §3.2: event code -> key
PTIME_MS = 20


@dataclass(frozen=True)
class Answer:
    audio_pt: int
    audio_codec: str  # SIPp's rtpmap
    te_pt: int
    te_rate: int

    def keys(self) -> dict[str, str]:
        return {
            "audio_pt": str(self.audio_pt),
            "audio_codec": self.audio_codec,
            "te_pt": str(self.te_pt),
            "te_rate": str(self.te_rate),
        }


ANSWERS = [
    pytest.param(Answer(96, "opus/48000/2", 110, 48000), id="opus-te48000-pt110"),
    pytest.param(Answer(0, "PCMU/8000", 100, 8000), id="pcmu-te8000-pt100"),
]


def by_event(packets: list[Rtp], pt: int) -> dict[int, list[Rtp]]:
    """The packets on ``pt`` grouped by RTP timestamp, in the order they were sent."""
    events: dict[int, list[Rtp]] = {}
    for p in packets:
        if p.pt == pt:
            events.setdefault(p.ts, []).append(p)
    return events


@pytest.mark.parametrize("answer", ANSWERS)
def test_send_dtmf_uses_the_answers_event_payload_type_and_clock(
    sipp_callee: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path, answer: Answer
) -> None:
    run = sipp_callee("uas_answer.xml", keys=answer.keys())
    server = wcs(rest_hooks=f"testApp={hooks.url}")
    cid = "d" + secrets.token_hex(6)
    host, port = run.address
    direct = SimpleNamespace(realm=host, host=host, port=port)  # no registrar: SIPp itself
    body = call_body(direct, cid, "1002", toStream=f"s_{cid}", hasVideo="false")
    assert server.rest("call/startup", body) == (200, None)
    hooks.wait_status(cid, "ESTABLISHED")

    path, media = tmp_path / "to-sipp.pcap", run.media_port
    capture = Capture(path, f"udp and dst port {media}", tmp_path / "dumpcap.log")
    try:
        dtmf = {"callId": cid, "dtmf": KEYS, "type": "RFC2833"}
        assert server.rest("call/send_dtmf", dtmf) == (200, None)
        ended = lambda: ended_events(path, media, answer.audio_pt) >= len(KEYS)  # noqa: E731
        wait_until("the keys' end packets on the wire", ended, 20)
    finally:
        capture.stop()  # after a moment: the audio that follows the last key is in it
    packets = rtp_sent_to(path, media)

    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    result = run.wait(30)
    assert result.exit_code == 0, result.describe()
    assert (result.successful, result.failed) == (1, 0), result.describe()
    errors = run.rundir / "errors.log"  # SIPp's -trace_err: unexpected messages, timeouts
    assert not errors.exists() or not errors.read_text().strip(), errors.read_text()
    hooks.wait_status(cid, "FINISH")
    # our offer had a telephone-event for each clock it offered; SIPp picked its own PT
    invite = next(m for way, m in result.messages if way == "received" and m.startswith("INVITE"))
    assert "telephone-event/8000" in invite and "telephone-event/48000" in invite
    assert f"a=rtpmap:{answer.te_pt} " not in invite

    # one stream: the audio and the events share the SSRC and the sequence numbers
    assert {p.pt for p in packets} == {answer.audio_pt, answer.te_pt}, {p.pt for p in packets}
    assert len({p.ssrc for p in packets}) == 1
    seqs = [p.seq for p in packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs)), seqs
    step = answer.te_rate * PTIME_MS // 1000  # 20 ms of the negotiated clock
    # every packet's timestamp is on the audio clock's 20 ms grid
    assert {(p.ts - packets[0].ts) % step for p in packets} == {0}

    tone = DtmfSettings().tone_ms * answer.te_rate // 1000  # the default key length
    growing = tone // step - 1  # packets before the first end packet
    events = by_event(packets, answer.te_pt)
    keys = ""
    for ts, pkts in events.items():
        fields = [p.event for p in pkts]
        assert None not in fields, pkts
        codes = {f[0] for f in fields if f is not None}
        assert len(codes) == 1, (ts, codes)  # one timestamp, one key
        keys += EVENT_KEYS[codes.pop()]
        assert [p.marker for p in pkts] == [True] + [False] * (len(pkts) - 1), pkts
        assert [f[1] for f in fields if f] == [False] * growing + [True] * 3, fields
        assert [f[2] for f in fields if f] == [step * k for k in range(1, growing + 1)] + [
            tone
        ] * 3, fields
        # the audio resumes after the event, its clock moved on by the event's slots
        after = packets[packets.index(pkts[-1]) + 1]
        assert after.pt == answer.audio_pt and after.ts - ts >= len(pkts) * step, (after, ts)
    assert keys == KEYS
