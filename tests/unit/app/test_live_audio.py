"""LiveAudio: a stream's audio payloads (Opus, PCMU, PCMA) → PCM at the call's rate, with a
bounded jitter buffer; and OutgoingAudio sending it in the call's codec between silence and
sounds, on one continuous RTP stream."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from tests.unit.rtp.test_outgoing_audio import assert_continuous, dominant_hz, drive, level, tone
from wcs.app.live_audio import LiveAudio, decodable
from wcs.media.frame_encoder import G711Encoder, OpusEncoder
from wcs.media.g711 import alaw_encode, ulaw_decode, ulaw_encode
from wcs.media.sound_pcm import clip_from_pcm
from wcs.rtp.outgoing_audio import AudioFormat, OutgoingAudio
from wcs.rtp.send_state import SendState

PCMA_8K = AudioFormat("PCMA", 160, 8000)  # a PCMA call: PCMU and Opus are decoded
OPUS_48K = AudioFormat("opus", 960, 48000)


def opus_packets(hz: float, seconds: float) -> list[bytes]:
    enc = OpusEncoder(20)
    pcm = tone(hz, seconds, 48000)
    n = 960 * 2
    return [p for i in range(0, len(pcm) - n + 1, n) if (p := enc.encode(pcm[i : i + n]))]


def g711_frames(hz: float, seconds: float, law: str) -> list[bytes]:
    pcm = tone(hz, seconds, 8000)
    encode = ulaw_encode if law == "PCMU" else alaw_encode
    return [encode(pcm[i : i + 320]) for i in range(0, len(pcm), 320)]


def drain(live: LiveAudio, samples: int, rate: int) -> bytes:
    out = bytearray()
    while (pcm := live.take(samples, rate)) is not None:
        out += pcm
    return bytes(out)


def test_codecs_it_takes() -> None:
    assert all(decodable(c) for c in ("opus", "PCMU", "pcma", "OPUS"))
    assert not any(decodable(c) for c in ("telephone-event", "G722", "H264"))


def test_opus_to_8k_keeps_the_tone() -> None:
    live = LiveAudio("s", PCMA_8K, jitter_ms=0, max_ms=5000)
    for p in opus_packets(440, 1.0):
        live.push("opus", p)
    pcm = drain(live, 160, 8000)
    assert len(pcm) >= 2 * 8000 * 0.9  # about the second fed (the decoder's delay aside)
    assert abs(dominant_hz(pcm[3200:], 8000) - 440) < 10
    assert level(pcm[3200:]) > 3000


def test_g711_to_48k_keeps_the_tone() -> None:
    for law in ("PCMU", "PCMA"):
        live = LiveAudio("s", OPUS_48K, jitter_ms=0, max_ms=5000)
        for f in g711_frames(700, 1.0, law):
            live.push(law, f)
        pcm = drain(live, 960, 48000)
        assert len(pcm) >= 2 * 48000 * 0.9
        assert abs(dominant_hz(pcm[9600:], 48000) - 700) < 10


def test_jitter_buffer_primes_underruns_and_drops_the_oldest() -> None:
    live = LiveAudio("s", PCMA_8K, jitter_ms=60, max_ms=100)
    frames = g711_frames(700, 1.0, "PCMU")
    live.push("PCMU", frames[0])
    live.push("PCMU", frames[1])
    assert live.take(160, 8000) is None  # 40 ms < 60 ms: not yet
    live.push("PCMU", frames[2])
    assert live.take(160, 8000) == ulaw_decode(frames[0])  # primed: oldest first
    assert live.take(160, 8000) == ulaw_decode(frames[1])
    assert live.take(160, 8000) == ulaw_decode(frames[2])
    assert live.take(160, 8000) is None and live.underruns == 1
    live.push("PCMU", frames[3])
    assert live.take(160, 8000) is None  # after an underrun: primes again
    for f in frames[4:10]:  # 120 ms fed on top of 20: 40 ms over the 100 ms bound
        live.push("PCMU", f)
    assert live.buffered_ms == 100 and live.dropped_ms == 40
    assert live.take(160, 8000) == ulaw_decode(frames[5])  # the oldest kept
    assert live.take(160, 48000) is None  # not the rate it was made for
    live.push("telephone-event", b"\x01\x00\x00\xa0")
    live.push("opus", b"")
    assert live.ignored == 2
    snap = live.snapshot()
    assert snap["codec"] == "PCMU" and snap["underruns"] == 1


def test_corrupt_opus_counts_and_goes_on() -> None:
    live = LiveAudio("s", PCMA_8K, jitter_ms=0)
    live.push("opus", b"\xff\xff\xff\xff\xff")
    for p in opus_packets(440, 0.2):
        live.push("opus", p)
    assert live.frames_in >= 9
    assert live.errors <= 1


def test_outgoing_audio_silence_stream_sound_stream_silence() -> None:
    """One RTP stream throughout: silence, the injected stream, a sound over it, the stream
    again, silence; sequence numbers and timestamps continuous."""
    audio = OutgoingAudio(G711Encoder("PCMU"), 0, SendState(7, 65530, 2**32 - 400))
    audio.start(0.0)
    k, packets = 0, []

    def run(slots: int) -> list[bytes]:
        nonlocal k
        got = drive(audio, k * audio.interval + 1e-9, slots)  # each slot due, none twice
        k += slots
        packets.extend(got)
        return [p.payload for p in got]

    quiet = run(3)
    live = LiveAudio("pub", audio.format, jitter_ms=0, max_ms=5000)  # PCMU into PCMU
    for f in g711_frames(440, 1.0, "PCMU"):
        live.push("PCMU", f)
    assert audio.inject(live) is None
    assert audio.live is live
    streamed = run(10)
    audio.play(clip_from_pcm("beep", tone(1000, 0.2), 16000), loop=False)
    beep = run(10)
    again = run(10)
    assert audio.inject(None) is live
    after = run(3)
    pcm = lambda payloads: b"".join(ulaw_decode(p) for p in payloads)  # noqa: E731
    assert level(pcm(quiet)) < 10 and level(pcm(after)) < 10
    assert abs(dominant_hz(pcm(streamed), 8000) - 440) < 20
    assert abs(dominant_hz(pcm(beep), 8000) - 1000) < 20
    assert abs(dominant_hz(pcm(again), 8000) - 440) < 20
    # No silent slot at either switch: every slot was the stream or the sound.
    assert (audio.live_frames, audio.sound_frames) == (20, 10)
    assert live.passed == 20  # same codec and framing: passed through, never decoded
    assert_continuous(packets, 160)
    assert len(packets) == 36 and packets[0].sequence == 65530


def test_outgoing_opus_call_from_a_g711_stream_decodes_to_the_tone() -> None:
    audio = OutgoingAudio(OpusEncoder(20), 111, SendState(1, 0, 0))
    audio.start(0.0)
    live = LiveAudio("pub", OPUS_48K, jitter_ms=20, max_ms=5000)
    for f in g711_frames(600, 1.0, "PCMA"):
        live.push("PCMA", f)
    audio.inject(live)
    payloads = [p.payload for p in drive(audio, 0.0, 40)]
    dec = av.CodecContext.create("opus", "r")
    out = bytearray()
    for i, data in enumerate(payloads):
        pkt = av.Packet(data)
        pkt.pts, pkt.time_base = i * 960, Fraction(1, 48000)
        for frame in dec.decode(pkt):
            out += frame.to_ndarray()[0].astype(np.float32).tobytes()
    x = np.frombuffer(bytes(out), dtype=np.float32)[9600:]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    assert abs(np.argmax(spectrum) * 48000 / len(x) - 600) < 20


def test_a_quiet_call_wakes_for_an_injection() -> None:
    audio = OutgoingAudio(G711Encoder("PCMA"), 8, SendState(1, 0, 0), send_silence=False)
    audio.start(0.0)
    assert audio.get_timer() is None  # nothing to send: no timer
    audio.inject(LiveAudio("pub", PCMA_8K))
    assert audio.get_timer() == 0.0
    audio.inject(None)
    assert audio.get_timer() is None


def test_opus_into_an_opus_call_passes_through_then_other_framing_is_decoded() -> None:
    audio = OutgoingAudio(OpusEncoder(20), 111, SendState(1, 0, 0))
    audio.start(0.0)
    live = LiveAudio("pub", audio.format, jitter_ms=40, max_ms=5000)
    source = opus_packets(440, 0.2)
    audio.inject(live)
    live.push("opus", source[0])
    assert [p.payload for p in drive(audio, 0.0, 1)] == [b"\xf8\xff\xfe"]  # priming: silence
    for p in source[1:]:
        live.push("opus", p)
    sent = [p.payload for p in drive(audio, 0.02 + 1e-9, len(source))]
    assert sent == source and live.passed == len(source) and live.errors == 0
    # 40 ms Opus frames do not fit 20 ms slots: decoded and encoded again.
    enc40 = OpusEncoder(40)
    pcm = tone(440, 0.4, 48000)
    for i in range(0, len(pcm) - 3840 + 1, 3840):
        payload = enc40.encode(pcm[i : i + 3840])
        if payload:
            live.push("opus", payload)
    assert live.passed == len(source) and live.buffered_ms > 100
