from __future__ import annotations

import re

import pytest

from wcs.sdp import direction_of
from wcs.webrtc.answer import LocalCandidate, SourceTrack, build_answer, negotiate
from wcs.webrtc.offer import OfferError, parse_offer

from .chrome_offer import CHROME_OFFER, FINGERPRINT


def h264(pm: str, plid: str = "42e01f") -> SourceTrack:
    return SourceTrack("video", "H264", 90000, {"profile-level-id": plid, "packetization-mode": pm})


def test_parse_chrome_offer() -> None:
    offer = parse_offer(CHROME_OFFER)
    assert offer.ice_ufrag == "Hx3S"
    assert offer.ice_pwd == "o9ZmCjAfTPcvbrH8BUDNzTqH"
    assert offer.fingerprints == [("sha-256", FINGERPRINT)]
    assert offer.setup == "actpass"
    assert offer.bundle == ["0", "1"]
    audio, video = offer.media
    assert (audio.kind, audio.mid, direction_of(audio), audio.rtcp_mux) == (
        "audio",
        "0",
        "recvonly",
        True,
    )
    assert [c.payload_type for c in audio.codecs][:5] == [111, 63, 9, 0, 8]
    assert video.codecs[2].parameters["profile-level-id"] == "42001f"
    assert video.candidates == []


@pytest.mark.parametrize(
    "source,pt",
    [
        (h264("0"), 108),  # exact profile and mode
        (h264("1"), 106),
        (h264("0", "42001f"), 104),
        (h264("1", "4d001f"), 127),
        (h264("1", "640c1f"), 125),
    ],
)
def test_h264_choice(source: SourceTrack, pt: int) -> None:
    choices = negotiate(parse_offer(CHROME_OFFER), [source])
    video = choices[1]
    assert video.codec is not None and video.codec.payload_type == pt
    assert choices[0].codec is None  # no audio source: rejected


def test_constrained_baseline_source_accepts_baseline_offer() -> None:
    offer = CHROME_OFFER.replace("profile-level-id=42e01f", "profile-level-id=64001f")
    choices = negotiate(parse_offer(offer), [h264("0")])
    video = choices[1].codec
    assert video is not None and video.payload_type == 104  # 42001f, mode 0


def test_h264_without_matching_mode_is_rejected() -> None:
    offer = CHROME_OFFER.replace("packetization-mode=0", "packetization-mode=1")
    choices = negotiate(parse_offer(offer), [h264("0")])
    assert choices[1].codec is None


@pytest.mark.parametrize("name,pt", [("PCMU", 0), ("PCMA", 8)])
def test_g711_used_as_is(name: str, pt: int) -> None:
    [audio, _] = negotiate(parse_offer(CHROME_OFFER), [SourceTrack("audio", name, 8000)])
    assert audio.codec is not None and audio.codec.payload_type == pt and not audio.transcode


def test_missing_audio_codec_needs_opus_transcode() -> None:
    offer = re.sub(r"a=rtpmap:(0|8) PCM[UA]/8000\r\n", "", CHROME_OFFER)
    offer = offer.replace("111 63 9 0 8 13", "111 63 9 13")
    [audio, _] = negotiate(parse_offer(offer), [SourceTrack("audio", "PCMU", 8000)])
    assert audio.codec is not None and audio.codec.name == "opus" and audio.transcode


def test_static_payload_without_rtpmap() -> None:
    offer = CHROME_OFFER.replace("a=rtpmap:0 PCMU/8000\r\n", "")
    [audio, _] = negotiate(parse_offer(offer), [SourceTrack("audio", "PCMU", 8000)])
    assert audio.codec is not None and audio.codec.payload_type == 0


def test_answer_lines() -> None:
    offer = parse_offer(CHROME_OFFER)
    choices = negotiate(offer, [SourceTrack("audio", "PCMU", 8000), h264("0")])
    answer = build_answer(
        offer,
        choices,
        ice_ufrag="abcd",
        ice_pwd="p" * 22,
        candidates=[
            LocalCandidate("1", "10.1.1.1", 31002, 100),
            LocalCandidate("2", "203.0.113.9", 31002, 99),
        ],
        fingerprint="AA:BB",
        setup="active",
        stream_id="S1",
        cname="cn",
    )
    assert "a=group:BUNDLE 0 1\r\n" in answer
    sections = answer.split("m=")[1:]
    assert sections[0].startswith("audio 31002 UDP/TLS/RTP/SAVPF 0\r\n")
    assert sections[1].startswith("video 31002 UDP/TLS/RTP/SAVPF 108\r\n")
    msids = re.findall(r"a=msid:(\S+) (\S+)", answer)
    assert len(msids) == 2 and msids[0][0] == msids[1][0] == "S1" and msids[0][1] != msids[1][1]
    for section in sections:
        for line in (
            "a=sendonly",
            "a=rtcp-mux",
            "a=setup:active",
            "a=fingerprint:sha-256 AA:BB",
            "a=ice-ufrag:abcd",
            "a=candidate:1 1 udp 100 10.1.1.1 31002 typ host",
            "a=candidate:2 1 udp 99 203.0.113.9 31002 typ host",
            "a=end-of-candidates",
        ):
            assert line + "\r\n" in section
    assert (
        "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"
        in answer
    )
    assert "a=rtcp-fb:108 nack pli" in answer and "goog-remb" not in answer
    for c in choices:
        assert f"a=ssrc:{c.ssrc} cname:cn" in answer
    # The answer parses back (our own reader).
    again = parse_offer(answer)
    assert [direction_of(m) for m in again.media] == ["sendonly", "sendonly"]


def test_rejected_media_port_zero_and_out_of_bundle() -> None:
    offer = parse_offer(CHROME_OFFER)
    choices = negotiate(offer, [h264("0")])
    answer = build_answer(
        offer,
        choices,
        ice_ufrag="abcd",
        ice_pwd="p" * 22,
        candidates=[LocalCandidate("1", "127.0.0.1", 5000, 1)],
        fingerprint="AA",
        setup="active",
        stream_id="S",
        cname="c",
    )
    assert "m=audio 0 " in answer and "a=group:BUNDLE 1\r\n" in answer


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda s: re.sub(r"a=ice-(ufrag|pwd):.*\r\n", "", s), "ICE credentials"),
        (lambda s: re.sub(r"a=fingerprint:.*\r\n", "", s), "fingerprint"),
        (lambda s: s[: s.index("m=audio")], "no media"),
        (lambda s: s.replace("m=audio 9", "m=audio x"), "port"),
        (lambda s: s.replace("a=setup:actpass", "a=setup:holdconn"), "setup"),
    ],
)
def test_bad_offers(mutate: object, message: str) -> None:
    assert callable(mutate)
    with pytest.raises(OfferError, match=message):
        parse_offer(mutate(CHROME_OFFER))


def test_bundle_only_m_line_is_received_with_the_bundle() -> None:
    """A max-bundle offerer (GStreamer's webrtcbin) gives every m-line but the first port 0
    and a=bundle-only (RFC 8843 7.3): it is part of the bundle, not rejected."""
    from wcs.webrtc.ingest_answer import negotiate_ingest

    offer = (
        "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE video0 audio1\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=setup:actpass\r\n"
        "a=ice-ufrag:u\r\na=ice-pwd:pppppppppppppppppppppp\r\na=rtcp-mux\r\na=sendrecv\r\n"
        "a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42c015\r\n"
        f"a=mid:video0\r\na=fingerprint:sha-256 {FINGERPRINT}\r\n"
        "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\n"
        "a=rtcp-mux\r\na=sendrecv\r\na=rtpmap:111 OPUS/48000/2\r\na=mid:audio1\r\n"
    )
    parsed = parse_offer(offer)
    assert [parsed.live(m) for m in parsed.media] == [True, True]
    chosen = [(c.kind, c.codec.name if c.codec else None) for c in negotiate_ingest(parsed)]
    assert chosen == [("video", "H264"), ("audio", "OPUS")]
    # Port 0 without bundle-only (or outside the group) stays a rejected m-line.
    rejected = parse_offer(offer.replace("a=bundle-only\r\n", ""))
    assert [rejected.live(m) for m in rejected.media] == [True, False]
