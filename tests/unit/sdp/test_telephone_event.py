"""telephone-event in offer/answer: one per audio clock in our offer, the answer's payload
type for sending, the audio clock for timestamps and durations."""

from __future__ import annotations

from wcs.sdp import Codec, SessionDescription, build_offer, default_audio_codecs
from wcs.sdp.offer_answer import NegotiatedMedia, negotiate_answer
from wcs.sdp.telephone_event import (
    EventFormat,
    event_receive_rates,
    event_send_format,
    with_telephone_events,
)


def answer(m_line: str, rtpmaps: list[str]) -> SessionDescription:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        m_line,
        *[f"a=rtpmap:{r}" for r in rtpmaps],
        "a=sendrecv",
    ]
    return SessionDescription.parse("\r\n".join(lines) + "\r\n")


def negotiated(m_line: str, rtpmaps: list[str]) -> NegotiatedMedia:
    offer = build_offer(
        "127.0.0.1", 4000, audio_codecs=with_telephone_events(default_audio_codecs())
    )
    (media,) = negotiate_answer(offer, answer(m_line, rtpmaps))
    return media


def test_offer_gets_one_event_per_clock() -> None:
    codecs = with_telephone_events(default_audio_codecs())
    events = [(c.payload_type, c.clock_rate) for c in codecs if c.name == "telephone-event"]
    assert events == [(101, 8000), (102, 48000)]
    assert len({c.payload_type for c in codecs}) == len(codecs)
    assert with_telephone_events(codecs) == codecs  # already complete
    only_g711 = with_telephone_events([Codec(0, "PCMU", 8000)])
    assert [(c.payload_type, c.clock_rate) for c in only_g711][1:] == [(101, 8000)]
    taken = [Codec(pt, "x", 8000) for pt in range(96, 128)]
    assert with_telephone_events(taken) == taken  # no free dynamic payload type


def test_g711_answer_with_event_on_another_payload_type() -> None:
    media = negotiated("m=audio 5000 RTP/AVP 0 100", ["0 PCMU/8000", "100 telephone-event/8000"])
    assert event_send_format(media) == EventFormat(100, 8000)  # the answer's PT
    assert event_receive_rates(media) == {101: 8000, 100: 8000}


def test_opus_answer_uses_telephone_event_48000() -> None:
    media = negotiated(
        "m=audio 5000 RTP/AVP 96 101 126",
        ["96 opus/48000/2", "101 telephone-event/8000", "126 telephone-event/48000"],
    )
    assert event_send_format(media) == EventFormat(126, 48000)
    assert event_receive_rates(media) == {101: 48000, 102: 48000, 126: 48000}


def test_opus_answer_with_only_8000_events_counts_on_the_audio_clock() -> None:
    # baresip 1.0: telephone-event/8000 next to Opus, durations on the 48 kHz clock.
    media = negotiated(
        "m=audio 5000 RTP/AVP 96 101", ["96 opus/48000/2", "101 telephone-event/8000"]
    )
    assert event_send_format(media) == EventFormat(101, 48000)
    assert event_receive_rates(media) == {101: 48000}


def test_no_events_in_the_answer() -> None:
    media = negotiated("m=audio 5000 RTP/AVP 8", ["8 PCMA/8000"])
    assert event_send_format(media) is None
    assert event_receive_rates(media) == {}
    rejected = NegotiatedMedia(0, "audio", True, "inactive")
    assert event_send_format(rejected) is None
    assert event_receive_rates(rejected) == {}
