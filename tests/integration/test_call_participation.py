"""Taking part in a call through REST (issue 19), against the real peers: the `wcs serve`
process calls a baresip callee through Kamailio.

- ``/call/send_dtmf "123#*"`` with RFC2833 and INFO: baresip reports each key once
  (ctrl_tcp ``CALL_DTMF_START``), in PCMU, PCMA and Opus calls; INFO_RELAY
  (application/dtmf), which baresip 1.0 refuses with 488, is reported on the call;
- baresip sends keys (RFC 4733, its ``sndcode`` command): each one once as a ``DTMFEvent``
  hook to a real HTTP backend, in ``/call/find`` and in ``wcs_dtmf_received_total``;
- ``/call/inject_sound`` of a 700 Hz WAV: baresip's recording of what it received shows
  700 Hz for the file's length then silence; looped and terminated early;
- hold / unhold: baresip gets the re-INVITEs and stops sending while held; the call is not
  failed by the inactivity timeout; an aiortc WHEP viewer stays and gets the media again;
- transfer to a second baresip (1003) through Kamailio: it gets the call, ours ends FINISH;
- bad input: 404, 400, 409 on a ringing call, the call untouched.
"""

from __future__ import annotations

import asyncio
import functools
import math
import secrets
import struct
import time
import urllib.request
import wave
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess, call_body
from tests.integration.playback import Viewer, stream_entries, whep_play
from tests.integration.test_dtmf_sound_core import TONE_HZ, KeyListener, windows

pytestmark = pytest.mark.peers

KEYS = "123#*"


def new_id() -> str:
    return "d" + secrets.token_hex(6)


def write_tone(path: Path, seconds: float, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(12000 * math.sin(2 * math.pi * TONE_HZ * i / rate)))
                for i in range(int(seconds * rate))
            )
        )
    return path


def start(wcs: WcsFactory, hooks: HookCollector, sounds: Path | None = None) -> WcsProcess:
    settings: dict[str, Any] = {"rest_hooks": f"testApp={hooks.url}"}
    if sounds is not None:
        settings["sounds_dir"] = str(sounds)
    return wcs(**settings)


def establish(server: WcsProcess, hooks: HookCollector, kamailio: Any, user: str) -> str:
    cid = new_id()
    body = call_body(kamailio, cid, user, toStream=f"s_{cid}", hasVideo="false")
    assert server.rest("call/startup", body) == (200, None)
    hooks.wait_status(cid, "ESTABLISHED")
    return cid


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout}s")


def received(server: WcsProcess, cid: str) -> int:
    status, streams = server.rest("stream/find", {"name": f"s_{cid}"})
    assert status == 200
    return int(streams[0]["packetsReceived"])


def metric(server: WcsProcess, name: str, labels: str) -> float:
    with urllib.request.urlopen(f"{server.base}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("codec", ["PCMU/8000/1", "PCMA/8000/1", "opus/48000/2"])
def test_send_dtmf_each_type_reaches_baresip_once(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, codec: str
) -> None:
    peer = callee(media="audio", audio_codecs=codec)
    keys = KeyListener(kamailio.host, peer.ports.ctrl)
    try:
        server = start(wcs, hooks)
        cid = establish(server, hooks, kamailio, peer.user)
        for n, dtmf_type in enumerate(("RFC2833", "INFO"), 1):
            body = {"callId": cid, "dtmf": KEYS, "type": dtmf_type}
            assert server.rest("call/send_dtmf", body) == (200, None), dtmf_type
            wait_for(lambda n=n: len(keys.keys) >= n * len(KEYS), 15, f"{dtmf_type} keys")
        # baresip 1.0 knows application/dtmf-relay only: it answers application/dtmf 488,
        # which drops the rest of the keys and is reported on the call, which goes on.
        body = {"callId": cid, "dtmf": KEYS, "type": "INFO_RELAY"}
        assert server.rest("call/send_dtmf", body) == (200, None)

        def refused() -> Any:
            found = server.rest("call/find", {"callId": cid})[1][0]
            return found if found["dtmfError"] else None

        found = wait_for(refused, 10, "the INFO_RELAY refusal on the call")
        assert found["dtmfError"] == "INFO 1: 488 Not Acceptable Here; not sent: 23#*"
        assert found["status"] == "ESTABLISHED"
        time.sleep(1.0)  # a repeated key would come now
        assert "".join(keys.keys) == KEYS * 2
        # The call still takes keys after the refusal.
        body = {"callId": cid, "dtmf": "9", "type": "RFC2833"}
        assert server.rest("call/send_dtmf", body) == (200, None)
        wait_for(lambda: len(keys.keys) > 2 * len(KEYS), 10, "the key after the refusal")
        assert "".join(keys.keys) == KEYS * 2 + "9"
    finally:
        keys.close()


def test_receive_dtmf_from_baresip(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(media="audio", audio_codecs="PCMU/8000/1")
    server = start(wcs, hooks)
    cid = establish(server, hooks, kamailio, peer.user)
    peer.ctrl("sndcode", "1234#*")
    events = wait_for(lambda: len(hooks.of(cid, "DTMFEvent")) >= 6 and hooks.of(cid, "DTMFEvent"),
                      15, "DTMFEvent hooks")  # fmt: skip
    time.sleep(1.0)  # repeated end packets must not produce more
    events = hooks.of(cid, "DTMFEvent")
    assert [e["dtmf"] for e in events] == list("1234#*")
    assert {e["type"] for e in events} == {"RFC2833"}
    assert all(e["duration"] > 0 for e in events)
    status, found = server.rest("call/find", {"callId": cid})
    assert status == 200
    assert [k["dtmf"] for k in found[0]["dtmf"]] == list("1234#*")
    assert metric(server, "wcs_dtmf_received_total", 'type="RFC2833"') == 6


@pytest.mark.parametrize("codec", ["PCMU/8000/1", "opus/48000/2"])
def test_inject_sound_reaches_baresip(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path, codec: str
) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    write_tone(sounds / "tone.wav", 1.0)
    peer = callee(media="audio", audio_codecs=codec)
    server = start(wcs, hooks, sounds)
    cid = establish(server, hooks, kamailio, peer.user)
    time.sleep(0.5)  # silence first
    body = {"callId": cid, "fileName": "tone.wav", "loop": "false"}
    assert server.rest("call/inject_sound", body) == (200, None)
    time.sleep(2.0)  # the tone, then silence
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    hooks.wait_status(cid, "FINISH")
    peer.stop()  # baresip closes its recording
    rows = windows(peer.received_audio)
    loud = [i for i, (_, level) in enumerate(rows) if level > 500]
    assert loud, rows
    first, last = loud[0], loud[-1]
    assert all(abs(hz - TONE_HZ) < 20 for hz, _ in rows[first + 1 : last]), rows
    assert 9 <= last - first + 1 <= 11, rows  # 1 s in 100 ms windows, edges partial
    # Silence before and after; the windows next to the tone may hold a few ms of its edge.
    quiet = [(i, level) for i, (_, level) in enumerate(rows) if not first - 1 <= i <= last + 1]
    noisy = [(i, round(level)) for i, level in quiet if level >= 50]
    assert not noisy, (first, last, len(rows), noisy)


def test_inject_sound_looped_then_terminated(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path
) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    write_tone(sounds / "short.wav", 0.3)
    peer = callee(media="audio", audio_codecs="PCMA/8000/1")
    server = start(wcs, hooks, sounds)
    cid = establish(server, hooks, kamailio, peer.user)
    time.sleep(0.5)
    body = {"callId": cid, "fileName": "short.wav", "loop": "true"}
    assert server.rest("call/inject_sound", body) == (200, None)
    time.sleep(1.5)  # five loops of 0.3 s
    assert server.rest("call/inject_sound/terminate", {"callId": cid}) == (200, None)
    status, _ = server.rest("call/inject_sound/terminate", {"callId": cid})
    assert status == 404  # nothing playing any more
    time.sleep(1.0)
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    hooks.wait_status(cid, "FINISH")
    peer.stop()
    rows = windows(peer.received_audio)
    loud = [i for i, (_, level) in enumerate(rows) if level > 500]
    assert loud, rows
    first, last = loud[0], loud[-1]
    # Looped well past the file's 0.3 s, without a silent window in between, until stopped.
    assert 13 <= last - first + 1 <= 17, rows
    assert all(level > 500 for _, level in rows[first:last]), rows
    assert all(level < 50 for _, level in rows[last + 2 :]), rows


@pytest.mark.asyncio
async def test_hold_unhold_against_baresip_the_viewer_stays(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee()  # audio and video
    server = wcs(rest_hooks=f"testApp={hooks.url}", rtp_activity_timeout="2")
    cid = new_id()
    body = call_body(kamailio, cid, peer.user, toStream=f"s_{cid}")
    assert server.rest("call/startup", body) == (200, None)
    hooks.wait_status(cid, "ESTABLISHED")
    viewer = Viewer()
    try:
        await whep_play(server.base, f"s_{cid}", viewer)
        await viewer.wait(frames=10, audio_s=0.5)
        rest = functools.partial(asyncio.to_thread, server.rest)
        assert await rest("call/hold", {"callId": cid}) == (200, None)
        hold = await asyncio.to_thread(hooks.wait_status, cid, "HOLD")
        assert hold["info"] == "Hold"
        assert (await rest("call/hold", {"callId": cid}))[0] == 409  # already held
        assert peer.log.count("got re-INVITE (SDP Offer)") == 1
        await asyncio.sleep(0.5)
        before = received(server, cid)
        await asyncio.sleep(3.0)  # longer than the inactivity timeout: a held call stays
        assert received(server, cid) == before  # baresip honours a=sendonly: it is silent
        status, found = await rest("call/find", {"callId": cid})
        assert status == 200 and found[0]["status"] == "HOLD"
        entries = await asyncio.to_thread(stream_entries, server)
        mine = [e for e in entries if e["name"] == f"s_{cid}"]
        assert {e["status"] for e in mine} == {"PUBLISHING", "PLAYING"}, mine
        frames = viewer.video_frames
        assert await rest("call/unhold", {"callId": cid}) == (200, None)
        unhold = await asyncio.to_thread(
            wait_for, lambda: [e for e in hooks.of(cid) if e["info"] == "Unhold"], 10, "Unhold"
        )
        assert unhold[0]["status"] == "ESTABLISHED"
        assert peer.log.count("got re-INVITE (SDP Offer)") == 2
        # The same viewer gets the peer's media again.
        await viewer.wait(frames=frames + 10, audio_s=0.5)
        assert "FAILED" not in hooks.statuses(cid)
    finally:
        await viewer.close()


def test_transfer_to_a_second_baresip(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector
) -> None:
    peer = callee(media="audio", audio_codecs="PCMU/8000/1")
    target = callee(user="1003", media="audio", audio_codecs="PCMU/8000/1")
    server = start(wcs, hooks)
    cid = establish(server, hooks, kamailio, peer.user)
    assert server.rest("call/transfer", {"callId": cid, "target": "1003"}) == (200, None)
    finish = hooks.wait_status(cid, "FINISH", timeout=30)
    assert finish["info"].startswith("Transferred to sip:1003@"), finish
    steps = [e["status"] for e in hooks.of(cid, "TransferStatusEvent")]
    assert steps[0] == "ACCEPTED" and steps[-1] == "COMPLETED", steps
    # The second baresip got the call from the first one (the transferee).
    wait_for(lambda: f"Call established: sip:{peer.user}@" in target.log, 10,
             "the transferred call at 1003")  # fmt: skip


def test_bad_input_leaves_the_call_untouched(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path
) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    (sounds / "noise.wav").write_bytes(b"RIFF not really a wav")
    with wave.open(str(sounds / "long.wav"), "wb") as w:  # over the 300 s a sound may last
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(2 * 8000 * 301))
    ringing = callee(user="1003", mode="noanswer", media="audio")
    peer = callee(media="audio", audio_codecs="PCMU/8000/1")
    server = start(wcs, hooks, sounds)
    cid = establish(server, hooks, kamailio, peer.user)

    def refused(path: str, body: dict[str, Any]) -> tuple[int, str | None]:
        status, answer = server.rest(path, body)
        return status, (answer or {}).get("field")

    assert refused("call/send_dtmf", {"callId": "nope", "dtmf": "1"})[0] == 404
    assert refused("call/send_dtmf", {"callId": cid, "dtmf": "12x"}) == (400, "dtmf")
    assert refused("call/send_dtmf", {"callId": cid, "dtmf": "1", "type": "SMS"}) == (400, "type")
    assert refused("call/inject_sound", {"callId": cid, "fileName": "../etc/passwd"}) == (
        400, "fileName")  # fmt: skip
    assert refused("call/inject_sound", {"callId": cid, "fileName": "missing.wav"}) == (
        400, "fileName")  # fmt: skip
    assert refused("call/inject_sound", {"callId": cid, "fileName": "noise.wav"}) == (
        400, "fileName")  # fmt: skip
    assert refused("call/inject_sound", {"callId": cid, "fileName": "long.wav"}) == (
        400, "fileName")  # fmt: skip
    assert refused("call/transfer", {"callId": cid, "target": "a b"})[0] == 400
    assert refused("call/hold", {"callId": "nope"})[0] == 404
    # A ringing call cannot take part yet.
    rid = new_id()
    body = call_body(kamailio, rid, ringing.user, hasVideo="false")
    assert server.rest("call/startup", body) == (200, None)
    hooks.wait_status(rid, "RING")
    assert refused("call/send_dtmf", {"callId": rid, "dtmf": "1"})[0] == 409
    assert refused("call/hold", {"callId": rid})[0] == 409
    assert server.rest("call/terminate", {"callId": rid}) == (200, None)
    # The established call went on untouched.
    status, found = server.rest("call/find", {"callId": cid})
    assert status == 200 and found[0]["status"] == "ESTABLISHED"
    assert hooks.statuses(cid)[-1] == "ESTABLISHED"
