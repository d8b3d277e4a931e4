"""Loss and jitter (issue 18): Kamailio and a baresip callee in a network namespace of the
test's own, wcs on the host, and between them a link that drops 5 % of the packets and
delays the others by 50 ms ± 20 ms, both ways (``tests.peers.netem``: this kernel has no
netem qdisc, so the link is two TUN devices and a seeded user-space forwarder). The SIP leg
(wcs <-> Kamailio) and the RTP leg (wcs <-> baresip) both cross it; the aiortc viewer and
REST stay on the host.

A call is placed through the impaired link, plays in an aiortc viewer over WHEP, and is
recorded, once with ``jitter_buffer = true`` and once with the defaults (no jitter buffer:
packets reach the viewer as received, and only the frame path reorders, ``frame_reorder_ms``).
The jitter reorders packets (as netem's does); before the frame path reordered, the H.264
depacketizer took every reordering for a loss -- measured on this link: 0 frames assembled,
0 keyframes, a recording with no video track at all, while the viewer (which reorders
itself) still played.
Checked: the call establishes; RTP loss is seen on the SIP side and keyframe
requests (PLI, then FIR) go to baresip; the viewer keeps decoding video after losses (frames
decoded in a window late in the call); the recording plays in ffprobe. The figures are
printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.fixtures.peers_base import peer_start
from tests.integration.conftest import HookCollector, WcsFactory, call_body
from tests.integration.playback import Viewer, http
from tests.peers.baresip import BaresipPorts, Callee, start_callee
from tests.peers.kamailio import Kamailio, start_kamailio
from tests.peers.netem import HOST_IP, PEER_IP, ImpairedLink
from tests.peers.procs import require_binary

pytestmark = [pytest.mark.peers, pytest.mark.asyncio]

SEED = 18
LOSS, DELAY, JITTER = 0.05, 0.050, 0.020
WINDOW_S = 8.0  # the measured window of playback, after the first frames


@pytest.fixture
def viewer_on_host_link(monkeypatch: pytest.MonkeyPatch) -> None:
    # The viewer's only ICE candidate: the host's end of the link (a local address, so the
    # viewer leg is not impaired), never the machine's real interfaces.
    monkeypatch.setattr("aioice.ice.get_host_addresses", lambda use_ipv4, use_ipv6: [HOST_IP])


@pytest.fixture
def link() -> Iterator[ImpairedLink]:
    with peer_start("impaired link (netns + TUN)"):
        lossy = ImpairedLink(LOSS, DELAY, JITTER, seed=SEED).start()
    yield lossy
    lossy.stop()


def video_stats(server: Any, name: str) -> dict[str, Any]:
    status, body = server.rest("stream/find", {"name": name})
    assert status == 200, body
    entry = next(e for e in body if e.get("published"))
    stats: dict[str, Any] = entry["mediaStats"]
    return stats


def probe_recording(path: Path) -> dict[str, Any]:
    require_binary("ffprobe", "ffmpeg")
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-show_format",
         "-of", "json", str(path)],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    info: dict[str, Any] = json.loads(out)
    return info


@pytest.mark.parametrize("jitter_buffer", ["true", "false"])
async def test_call_plays_and_records_through_loss_and_jitter(
    jitter_buffer: str,
    link: ImpairedLink,
    wcs: WcsFactory,
    hooks: HookCollector,
    tmp_path: Path,
    peer_media_dir: Path,
    viewer_on_host_link: None,
) -> None:
    kam: Kamailio | None = None
    peer: Callee | None = None
    viewer = Viewer(pc=RTCPeerConnection(RTCConfiguration(iceServers=[])))
    try:
        with peer_start("kamailio in the namespace"):
            kam = start_kamailio(tmp_path / "kamailio", host=PEER_IP, port=5060, netns=link.ns)
        with peer_start("baresip in the namespace"):
            peer = start_callee(
                kam, tmp_path / "callee", peer_media_dir, user="1002",
                ports=BaresipPorts(sip=5070, ctrl=5090, rtp_low=20000, rtp_high=20119),
                netns=link.ns, register_timeout=30,
            )  # fmt: skip
        records = tmp_path / "records"
        server = wcs(
            bind_ip=HOST_IP,
            public_ip=HOST_IP,
            rest_hooks=f"testApp={hooks.url}",
            record_sip_streams="true",
            record_dir=str(records),
            jitter_buffer=jitter_buffer,
        )
        cid = f"netem{SEED}{jitter_buffer}"
        name = f"stream_{cid}"
        status, body = server.rest("call/startup", call_body(kam, cid, peer.user, toStream=name))
        assert status == 200, body
        hooks.wait_status(cid, "ESTABLISHED", timeout=60)

        status, _, answer = await asyncio.to_thread(
            http, "POST", f"{server.base}/whep/{name}", (await viewer.offer()).encode(),
            {"Content-Type": "application/sdp"},
        )  # fmt: skip
        assert status == 201, answer
        await viewer.answer(answer.decode())
        await viewer.wait(frames=15, audio_s=1.0, timeout=60)
        # The measured window: what the viewer decodes while the losses go on.
        first = (viewer.video_frames, viewer.audio_seconds(), video_stats(server, name))
        await asyncio.sleep(WINDOW_S)
        last = (viewer.video_frames, viewer.audio_seconds(), video_stats(server, name))
        v0, v1 = first[2]["video"], last[2]["video"]
        a1 = last[2]["audio"]
        requests = v1.get("keyframeRequests", {})
        figures = {
            "link": {"to_peers": vars(link.to_peer), "to_wcs": vars(link.to_host)},
            "sip_side_video": {k: v1.get(k) for k in ("packets", "lost", "frames", "keyframes",
                                                      "damaged", "jitter_ms")},
            "sip_side_audio": {k: a1.get(k) for k in ("packets", "lost", "jitter_ms")},
            "keyframe_requests_to_sip_side": requests,
            "viewer_frames_in_window": last[0] - first[0],
            "viewer_audio_s_in_window": round(last[1] - first[1], 2),
            "viewer_frames_total": last[0],
            "window_s": WINDOW_S,
        }  # fmt: skip
        status, _ = server.rest("call/terminate", {"callId": cid})
        assert status == 200
        hooks.wait_status(cid, "FINISH", timeout=30)
        await viewer.close()
        files = await _recording(records)
        info = probe_recording(files[0])
        streams = {s["codec_type"]: s for s in info["streams"]}
        figures["recording"] = {
            "file": files[0].name,
            "duration_s": info["format"].get("duration"),
            "video_frames": streams.get("video", {}).get("nb_read_frames"),
            "audio_frames": streams.get("audio", {}).get("nb_read_frames"),
            "video_codec": streams.get("video", {}).get("codec_name"),
        }
        print("loss and jitter figures:", json.dumps(figures, indent=1))

        # The link really was lossy both ways, and the loss reached the RTP leg.
        assert link.to_peer.dropped > 0 and link.to_host.dropped > 0
        assert v1["lost"] > 0 and v1["packets"] > v0["packets"]
        # Lost video packets damage frames; wcs asks baresip for keyframes (PLI, FIR).
        assert sum(requests.values()) > 0, v1
        assert v1["keyframes"] > v0["keyframes"] or v1["keyframes"] > 1
        assert v1["frames"] > v0["frames"]  # the frame path assembles pictures through it
        # The viewer kept decoding video and audio through the window.
        assert last[0] > first[0] and last[1] > first[1]
        # The recording plays: both tracks, decodable video frames.
        assert int(streams["video"]["nb_read_frames"]) > 0
        assert "audio" in streams
    finally:
        await viewer.close()
        if peer is not None:
            peer.stop()
        if kam is not None:
            kam.stop()


async def _recording(records: Path) -> list[Path]:
    """The finished recording (the file is closed shortly after the call ends)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        files = sorted(p for p in records.glob("*") if p.is_file() and p.stat().st_size > 0)
        if files:
            return files
        await asyncio.sleep(0.2)
    raise AssertionError(f"no recording in {records}")
