"""The demo's media: test card pictures, the beep, RTP numbering."""

from __future__ import annotations

import struct

from wcs.demo.rtp_out import RtpOut
from wcs.demo.testcard import TestCard
from wcs.demo.tone import FRAME_SAMPLES, SAMPLE_RATE, frame_at, second_of_tone
from wcs.media.g711 import ulaw_decode


def test_pictures_move_and_show_the_clock() -> None:
    card = TestCard(320, 192, scale=3)
    a = card.render(0, "12:00:00")
    b = card.render(1, "12:00:00")
    c = card.render(0, "12:00:01")
    assert len(a.y) == 320 * 192 and len(a.u) == len(a.v) == 160 * 96
    assert a.y != b.y  # motion
    assert a.y != c.y  # the clock is drawn
    assert b"\xeb" in a.y  # white glyph pixels


def test_beep_then_silence_and_wraparound() -> None:
    pcm = ulaw_decode(second_of_tone())
    samples = struct.unpack(f"<{SAMPLE_RATE}h", pcm)
    assert max(abs(s) for s in samples[:1600]) > 6000
    assert max(abs(s) for s in samples[1600:]) < 10
    frame = frame_at(SAMPLE_RATE - 80)
    assert len(frame) == FRAME_SAMPLES
    assert frame == second_of_tone()[-80:] + second_of_tone()[:80]


def test_rtp_out_marks_the_last_packet_and_counts_sequence() -> None:
    out = RtpOut(97, 90000)
    first = out.sequence
    packets = out.packets([b"a", b"b", b"c"], 3000)
    heads = [struct.unpack("!BBHII", p[:12]) for p in packets]
    assert [h[1] for h in heads] == [97, 97, 97 | 0x80]
    assert [h[2] for h in heads] == [(first + i) & 0xFFFF for i in range(3)]
    assert {h[3] for h in heads} == {(out.ts_base + 3000) & 0xFFFFFFFF}
    assert {h[4] for h in heads} == {out.ssrc}
