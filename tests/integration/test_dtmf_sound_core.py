"""The new sans-IO cores against a real baresip callee, before they are wired into calls:
``OutgoingAudio`` + ``DtmfSender`` on a UDP socket, driven by ``wcs.sansio.Pump``, with the
existing UA placing the call through Kamailio.

- every key of ``123#*0ABCD9`` reaches baresip exactly once (its ctrl_tcp
  ``CALL_DTMF_START`` events), on the answer's telephone-event payload type and the audio
  clock (G.711: 8000; Opus: 48000, although baresip 1.0 answers ``telephone-event/8000``);
- a 1 s 700 Hz sound played once replaces the silence: baresip's recording of what it
  received shows 700 Hz for the clip's length, silence before and after.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.peers.baresip import Callee
from tests.peers.baresip_ctrl import Ctrl
from tests.peers.kamailio import Kamailio
from wcs import sdp
from wcs.media.frame_encoder import encoder_for
from wcs.media.sound_pcm import clip_from_pcm
from wcs.rtp.dtmf import DtmfSender, DtmfSent
from wcs.rtp.outgoing_audio import FINISHED, OutgoingAudio, SoundEnded
from wcs.rtp.send_state import SendState
from wcs.sansio import Pump
from wcs.sdp.telephone_event import event_send_format, with_telephone_events
from wcs.sip import Account, SipTransport, UserAgent
from wcs.sip import events as ev

pytestmark = [pytest.mark.peers]

KEYS = "123#*0ABCD9"
TONE_HZ = 700
WINDOW_S = 0.1


class KeyListener:
    """The callee's ctrl_tcp events: one ``CALL_DTMF_START`` per key baresip detected."""

    def __init__(self, host: str, port: int) -> None:
        self.keys: list[str] = []
        self._stop = threading.Event()
        self._conn = Ctrl(host, port, 10.0)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._conn.recv(timeout=0.1)
            if msg is not None and msg.get("type") == "CALL_DTMF_START":
                self.keys.append(str(msg.get("param")))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()


def tone(seconds: float, rate: int = 8000) -> bytes:
    return b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * TONE_HZ * i / rate)))
        for i in range(int(seconds * rate))
    )


def windows(path: Path) -> list[tuple[float, float]]:
    """(dominant Hz, mean level) of each WINDOW_S of a WAV's first channel."""
    with wave.open(str(path)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    x = x.reshape(-1, channels)[:, 0]
    n = int(rate * WINDOW_S)
    out = []
    for i in range(0, len(x) - n + 1, n):
        seg = x[i : i + n]
        spectrum = np.abs(np.fft.rfft(seg * np.hanning(n)))
        out.append((float(np.argmax(spectrum) * rate / n), float(np.abs(seg).mean())))
    return out


@pytest.mark.asyncio
@pytest.mark.parametrize("codec", ["PCMU/8000/1", "PCMA/8000/1", "opus/48000/2"])
async def test_dtmf_and_sound_reach_baresip(
    kamailio: Kamailio, callee: Callable[..., Callee], codec: str
) -> None:
    peer = callee(media="audio", audio_codecs=codec)
    keys = KeyListener(kamailio.host, peer.ports.ctrl)
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[ev.Event] = loop.create_future()
    ended: asyncio.Future[ev.Event] = loop.create_future()

    def on_sip(event: ev.Event) -> None:
        if isinstance(event, ev.CallAnswered | ev.CallFailed) and not answered.done():
            answered.set_result(event)
        if isinstance(event, ev.CallReleased | ev.CallFailed) and not ended.done():
            ended.set_result(event)

    sound_done: asyncio.Future[SoundEnded] = loop.create_future()
    keys_done: asyncio.Future[DtmfSent] = loop.create_future()

    def on_media(event: object) -> None:
        if isinstance(event, SoundEnded) and not sound_done.done():
            sound_done.set_result(event)
        if isinstance(event, DtmfSent) and event.digit == KEYS[-1] and not keys_done.done():
            keys_done.set_result(event)

    ua = UserAgent(local_port=0, public_ip="127.0.0.1")
    sip = SipTransport(ua, "127.0.0.1", 0, on_sip)
    await sip.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    pump: Pump[OutgoingAudio] | None = None
    try:
        offer = sdp.build_offer(
            "127.0.0.1",
            sock.getsockname()[1],
            audio_codecs=with_telephone_events(sdp.default_audio_codecs()),
        )
        account = Account(
            login="1001", domain=kamailio.host, password="secret1001", port=kamailio.port
        )
        ua.invite("dtmf-1", account, "1002", str(offer).encode(), sip.now())
        sip.wake()
        result = await asyncio.wait_for(answered, 20)
        assert isinstance(result, ev.CallAnswered), result
        (media,) = sdp.negotiate_answer(offer, sdp.SessionDescription.parse(result.sdp or b""))
        assert media.send_codec is not None and media.remote_address is not None
        fmt = event_send_format(media)
        assert fmt is not None
        assert fmt.clock_rate == media.send_codec.clock_rate
        encoder = encoder_for(media.send_codec.name)
        core = OutgoingAudio(
            encoder,
            media.send_codec.payload_type,
            SendState(0x5EED, 1000, 123456),
            dtmf=DtmfSender(fmt.payload_type, fmt.clock_rate),
        )
        remote = media.remote_address

        def transmit(now: float) -> None:
            for packet in core.packets_to_send(now):
                sock.sendto(packet, remote)

        pump = Pump(core, transmit, on_media)
        core.start(pump.now())
        pump.wake()
        await asyncio.sleep(0.5)  # silence first
        core.play(clip_from_pcm("tone", tone(1.0), 8000), loop=False)
        pump.wake()
        assert (await asyncio.wait_for(sound_done, 10)).reason == FINISHED
        await asyncio.sleep(0.5)  # silence after
        core.send_dtmf(KEYS)
        pump.wake()
        await asyncio.wait_for(keys_done, 20)
        deadline = time.monotonic() + 5  # the last key's events are in flight
        while len(keys.keys) < len(KEYS) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ua.hangup("dtmf-1", sip.now())
        sip.wake()
        await asyncio.wait_for(ended, 10)
    finally:
        if pump is not None:
            pump.close()
        sock.close()
        keys.close()
        await sip.close()
    assert "".join(keys.keys) == KEYS

    peer.stop()  # baresip closes its recording
    recording = peer.received_audio
    assert recording is not None
    rows = windows(recording)
    loud = [i for i, (_, level) in enumerate(rows) if level > 500]
    assert loud, rows
    first, last = loud[0], loud[-1]
    assert all(abs(hz - TONE_HZ) < 20 for hz, _ in rows[first + 1 : last]), rows
    # 1 s of tone: 10 windows of 100 ms, give or take the two partial ones at its edges.
    assert 9 <= last - first + 1 <= 11, rows
    # Silence around it. The windows at the tone's edges may hold a part of it at any level
    # (the tone's start and the decoder's delay, e.g. Opus's 6.5 ms, fall anywhere in a
    # window): they are left out, the windows beyond them must be quiet.
    assert all(level < 50 for _, level in rows[: max(first - 1, 0)] + rows[last + 2 :]), rows
