"""A call's outgoing audio: silence, an injected sound in the call's codec, DTMF events,
all on one stream with continuous sequence numbers and timestamps."""

from __future__ import annotations

import math
import struct
from itertools import pairwise

import av
import numpy as np
import pytest

from wcs.media.dtmf import DtmfError
from wcs.media.frame_encoder import G711Encoder, OpusEncoder, encoder_for
from wcs.media.g711 import alaw_decode, ulaw_decode
from wcs.media.sound import SoundClip
from wcs.media.sound_pcm import clip_from_pcm
from wcs.rtp.dtmf import DtmfSender, DtmfSent, DtmfSettings
from wcs.rtp.outgoing_audio import FINISHED, REPLACED, STOPPED, OutgoingAudio, SoundEnded
from wcs.rtp.packet import RtpPacket
from wcs.rtp.send_state import SendState


def tone(hz: float, seconds: float, rate: int = 16000) -> bytes:
    n = int(seconds * rate)
    return b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * hz * i / rate))) for i in range(n)
    )


def dominant_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def level(pcm: bytes) -> float:
    return float(np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.float64)).mean())


def drive(audio: OutgoingAudio, start: float, slots: int) -> list[RtpPacket]:
    out = []
    for i in range(slots):
        now = start + i * audio.interval
        assert audio.get_timer() is not None
        audio.handle_timer(now)
        out += [RtpPacket.parse(p) for p in audio.packets_to_send(now)]
    return out


def events(audio: OutgoingAudio) -> list[object]:
    return list(iter(audio.next_event, None))


@pytest.fixture(scope="module")
def clip() -> SoundClip:
    return clip_from_pcm("tone", tone(700, 0.5), 16000)  # 25 frames of 20 ms


def assert_continuous(packets: list[RtpPacket], step: int) -> None:
    for a, b in pairwise(packets):
        assert b.sequence == (a.sequence + 1) & 0xFFFF
        assert b.ssrc == a.ssrc
    audio = [p for p in packets if p.payload_type != 101]
    for a, b in pairwise(audio):
        assert (b.timestamp - a.timestamp) % 2**32 == step * ((b.sequence - a.sequence) % 2**16)


def test_silence_by_default_on_a_cadence() -> None:
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(5, 100, 1000))
    assert audio.get_timer() is None  # not started
    audio.start(10.0)
    assert audio.get_timer() == 10.0
    packets = drive(audio, 10.0, 5)
    assert [p.sequence for p in packets] == [100, 101, 102, 103, 104]
    assert [p.timestamp for p in packets] == [1000 + 160 * i for i in range(5)]
    assert {p.payload for p in packets} == {b"\xff" * 160}
    assert {p.payload_type for p in packets} == {0}
    assert audio.get_timer() == pytest.approx(10.1)


def test_calls_started_apart_share_the_slot_grid() -> None:
    """However many calls run, their 20 ms slots fall on the same instants, so the process
    wakes once per slot for all of them (one loop iteration serves every due timer)."""
    first = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(5, 100, 1000))
    second = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(6, 100, 1000))
    first.start(10.003)
    second.start(10.0171)
    assert first.get_timer() == second.get_timer() == pytest.approx(10.02, abs=1e-9)
    for _ in range(200):  # 4 s of slots, each timer fired a little late
        at = first.get_timer()
        assert at is not None and second.get_timer() == pytest.approx(at, abs=1e-9)
        for audio in (first, second):
            audio.handle_timer(at + 0.0005)
            assert len(audio.packets_to_send(at)) == 1


@pytest.mark.parametrize(
    ("name", "pt", "decode"), [("PCMU", 0, ulaw_decode), ("PCMA", 8, alaw_decode)]
)
def test_sound_once_then_silence_g711(clip: SoundClip, name: str, pt: int, decode: object) -> None:
    audio = OutgoingAudio(encoder_for(name), pt, SendState(1, 65530, 0xFFFFF000))
    audio.start(0.0)
    drive(audio, 0.0, 3)  # silence first
    audio.play(clip, loop=False)
    assert audio.sound == "tone"
    packets = drive(audio, 0.06, 40)
    assert_continuous(packets, 160)
    assert callable(decode)
    pcm = b"".join(decode(p.payload) for p in packets[:25])
    assert dominant_hz(pcm, 8000) == pytest.approx(700, abs=10)
    assert level(pcm) > 3000
    after = packets[26:]
    assert {p.payload for p in after} == {(b"\xff" if name == "PCMU" else b"\xd5") * 160}
    assert events(audio) == [SoundEnded("tone", FINISHED)]
    assert audio.sound is None


def test_sound_looped_and_stopped(clip: SoundClip) -> None:
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0))
    audio.start(0.0)
    audio.play(clip, loop=True)
    packets = drive(audio, 0.0, 100)  # four times the clip
    pcm = b"".join(ulaw_decode(p.payload) for p in packets)
    for i in range(0, 100, 25):  # every second of it is the tone
        part = pcm[i * 320 : (i + 25) * 320]
        assert dominant_hz(part, 8000) == pytest.approx(700, abs=10)
    assert events(audio) == []
    assert audio.stop_sound()
    assert not audio.stop_sound()
    assert events(audio) == [SoundEnded("tone", STOPPED)]
    later = drive(audio, 2.0, 3)
    assert {p.payload for p in later} == {b"\xff" * 160}
    assert later[0].sequence == packets[-1].sequence + 1


def test_play_replaces() -> None:
    a = clip_from_pcm("a", tone(500, 0.2, 8000), 8000)
    b = clip_from_pcm("b", tone(900, 0.2, 8000), 8000)
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0))
    audio.start(0.0)
    audio.play(a, loop=True)
    drive(audio, 0.0, 2)
    audio.play(b, loop=False)
    packets = drive(audio, 0.04, 11)  # b's 10 frames, then silence
    pcm = b"".join(ulaw_decode(p.payload) for p in packets[:10])
    assert dominant_hz(pcm, 8000) == pytest.approx(900, abs=10)
    assert events(audio) == [SoundEnded("a", REPLACED), SoundEnded("b", FINISHED)]


def test_opus_sound(clip: SoundClip) -> None:
    audio = OutgoingAudio(encoder_for("opus"), 111, SendState(9, 0, 0))
    audio.start(0.0)
    audio.play(clip, loop=False)
    packets = drive(audio, 0.0, 30)
    assert_continuous(packets, 960)
    assert [p.timestamp for p in packets[:3]] == [0, 960, 1920]
    decoder = av.CodecContext.create("opus", "r")
    pcm = bytearray()
    for p in packets[:25]:
        for frame in decoder.decode(av.Packet(p.payload)):
            arr = frame.to_ndarray()
            mono = arr[0] if arr.ndim == 2 and arr.shape[0] > 1 else arr.reshape(-1)
            if mono.dtype != np.int16:
                mono = (mono * 32767).astype("<i2")
            pcm += mono.tobytes()
    assert dominant_hz(bytes(pcm[len(pcm) // 4 :]), 48000) == pytest.approx(700, abs=10)
    assert {p.payload for p in packets[26:]} == {b"\xf8\xff\xfe"}


def test_dtmf_pauses_the_sound_and_continues_the_stream(clip: SoundClip) -> None:
    dtmf = DtmfSender(101, 8000, settings=DtmfSettings(tone_ms=100, gap_ms=40))
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(3, 10, 0), dtmf=dtmf)
    audio.start(0.0)
    audio.play(clip, loop=False)
    drive(audio, 0.0, 5)
    audio.send_dtmf("1#")
    packets = drive(audio, 0.1, 60)
    kinds = "".join("e" if p.payload_type == 101 else "a" for p in packets)
    assert kinds.startswith("e" * 7 + "aa" + "e" * 7 + "a")
    assert_continuous(packets, 160)
    first_audio_after = packets[7]
    assert first_audio_after.timestamp == packets[0].timestamp + 7 * 160
    # The sound resumed where it paused: 25 frames of it in all, then silence.
    sound_frames = [p for p in packets if p.payload_type == 0 and p.payload != b"\xff" * 160]
    assert len(sound_frames) == 25 - 5
    assert [e for e in events(audio) if isinstance(e, DtmfSent)] == [
        DtmfSent("1", 100, 800),
        DtmfSent("#", 100, 800 + 9 * 160),
    ]


def test_dtmf_at_48000_with_opus() -> None:
    dtmf = DtmfSender(126, 48000)
    audio = OutgoingAudio(OpusEncoder(), 111, SendState(3, 0, 0), dtmf=dtmf)
    audio.start(0.0)
    audio.send_dtmf("5")
    packets = drive(audio, 0.0, 12)
    assert [p.payload_type for p in packets] == [126] * 10 + [111] * 2
    assert packets[10].timestamp == 10 * 960
    with pytest.raises(ValueError, match="clock"):
        OutgoingAudio(OpusEncoder(), 111, SendState(3, 0, 0), dtmf=DtmfSender(101, 8000))


def test_dtmf_without_telephone_event_refused() -> None:
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0))
    with pytest.raises(DtmfError, match="telephone-event"):
        audio.send_dtmf("1")


def test_hold_sends_nothing_but_the_clock_runs(clip: SoundClip) -> None:
    dtmf = DtmfSender(101, 8000)
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0), dtmf=dtmf)
    audio.start(0.0)
    drive(audio, 0.0, 1)
    audio.sending = False
    audio.send_dtmf("9")
    assert drive(audio, 0.02, 10) == []
    audio.sending = True
    packets = drive(audio, 0.22, 2)
    assert packets[0].sequence == 1  # nothing was numbered while on hold
    assert packets[0].timestamp == 11 * 160
    assert packets[0].payload_type == 101  # the queued key goes out now
    assert packets[0].marker


def test_without_silence_no_timer_and_the_clock_catches_up(clip: SoundClip) -> None:
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0), send_silence=False)
    audio.start(0.0)
    assert audio.get_timer() is None  # nothing to send in any slot: nothing polls
    audio.play(clip, loop=False)
    packets = drive(audio, 0.06, 2)
    assert [(p.sequence, p.timestamp) for p in packets] == [(0, 480), (1, 640)]


def test_stall_sends_a_few_and_skips_the_rest_in_time() -> None:
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0))
    audio.start(0.0)
    audio.handle_timer(1.0)  # 50 slots late
    packets = [RtpPacket.parse(p) for p in audio.packets_to_send(1.0)]
    assert [p.timestamp for p in packets] == [0, 160, 320]
    assert audio.skipped_slots == 47  # 0.06 .. 0.98; the slot at 1.0 is due now
    timer = audio.get_timer()
    assert timer == pytest.approx(1.0)
    audio.handle_timer(1.0)
    (nxt,) = [RtpPacket.parse(p) for p in audio.packets_to_send(1.0)]
    assert nxt.sequence == 3
    assert nxt.timestamp == 50 * 160
    audio.stop()
    assert audio.get_timer() is None


def test_encoders() -> None:
    with pytest.raises(ValueError):
        encoder_for("G722")
    with pytest.raises(ValueError):
        G711Encoder("opus")
    with pytest.raises(ValueError):
        OpusEncoder(ptime_ms=30)
    enc = encoder_for("pcma", 30)
    assert (enc.step, enc.pcm_samples, enc.silence()) == (240, 240, b"\xd5" * 240)


def test_silence_rides_on_another_wake_up_within_its_window() -> None:
    """A packet from the peer wakes the call anyway: the next silence slot goes then if it
    is due within ``silence_early``, exactly as its timer would have sent it, and the timer
    moves on (no slot twice, none lost)."""
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(5, 100, 1000), silence_early=0.01)
    audio.start(10.0)
    assert not audio.send_early(9.985)  # 15 ms ahead: outside the window
    assert audio.packets_to_send(9.985) == []
    assert audio.send_early(9.993)  # 7 ms ahead: rides on this wake-up
    (early,) = [RtpPacket.parse(p) for p in audio.packets_to_send(9.993)]
    assert (early.sequence, early.timestamp) == (100, 1000)  # the slot's own fields
    assert audio.get_timer() == pytest.approx(10.02)
    audio.handle_timer(10.0)  # the old deadline passes: nothing more for it
    assert audio.packets_to_send(10.0) == []
    assert not audio.send_early(10.0)  # the next slot (10.02) is 20 ms away
    packets = drive(audio, 10.02, 3)  # then the timer path, unchanged
    assert [(p.sequence, p.timestamp) for p in packets] == [(101, 1160), (102, 1320), (103, 1480)]


def test_silence_early_sends_every_slot_once_at_most_one_ptime_ahead() -> None:
    """Wake-ups at a cadence unrelated to the slots (a 30 fps video, audio from the peer)
    carry the slots; over 2 s every slot goes exactly once, in order, never more than the
    window ahead of its time nor after it."""
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0), silence_early=0.01)
    audio.start(0.0)
    wakes = sorted(
        {round(i / 30 + 0.004, 6) for i in range(60)} | {i * 0.02 + 0.013 for i in range(100)}
    )
    sent: list[tuple[float, RtpPacket]] = []
    for now in wakes:
        timer = audio.get_timer()
        while timer is not None and timer <= now:  # the loop fires a due timer first
            audio.handle_timer(timer)
            sent += [(timer, RtpPacket.parse(p)) for p in audio.packets_to_send(timer)]
            timer = audio.get_timer()
        audio.send_early(now)
        sent += [(now, RtpPacket.parse(p)) for p in audio.packets_to_send(now)]
    assert [p.sequence for _, p in sent] == list(range(len(sent)))
    assert len(sent) >= 99
    for at, p in sent:
        due = p.timestamp / 8000
        assert due - 0.01 < at <= due + 1e-9
    early = sum(1 for at, p in sent if at < p.timestamp / 8000 - 1e-9)
    assert early > len(sent) // 2  # most slots rode on a wake-up (the point of it)


def test_sounds_keys_and_hold_keep_their_slot_times(clip: SoundClip) -> None:
    dtmf = DtmfSender(101, 8000)
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0), silence_early=0.01, dtmf=dtmf)
    audio.start(0.0)
    audio.play(clip, loop=False)
    assert not audio.send_early(-0.005)  # a sound frame waits for its slot
    audio.stop_sound()
    audio.send_dtmf("1")
    assert not audio.send_early(-0.005)  # so does a key
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0), silence_early=0.01)
    audio.start(0.0)
    audio.sending = False
    assert not audio.send_early(-0.005)  # on hold nothing is sent
    silent = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 0))
    silent.start(0.0)
    assert not silent.send_early(-0.001)  # 0 (the class default): exact slot times


def test_rtp_time_is_the_clock_at_now_whatever_was_sent_early() -> None:
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(1, 0, 1000), silence_early=0.015)
    audio.start(1.0)
    assert audio.rtp_time(0.99) == 1000 - 80  # 10 ms before the first slot
    assert audio.send_early(0.99)
    assert audio.state.timestamp == 1160  # the next packet's timestamp moved on ...
    assert audio.rtp_time(0.99) == 1000 - 80  # ... the clock did not
    assert audio.rtp_time(1.005) == 1040
