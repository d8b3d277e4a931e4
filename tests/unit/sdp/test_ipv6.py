"""SDP on IPv6 (RFC 4566 §5.7, RFC 3264): ``IN IP6`` with the address unbracketed."""

from __future__ import annotations

from wcs.sdp import (
    SessionDescription,
    answer_offer,
    build_offer,
    default_audio_codecs,
    default_video_codecs,
    negotiate_answer,
)

ANSWER6 = (
    "v=0\r\no=- 7 7 IN IP6 2001:db8::3\r\ns=-\r\nc=IN IP6 2001:db8::3\r\nt=0 0\r\n"
    "m=audio 5000 RTP/AVP 0\r\na=rtcp:5011 IN IP6 2001:db8::4\r\n"
    "m=video 5002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
    "a=fmtp:97 packetization-mode=1;profile-level-id=42e01f\r\n"
)


def test_offer_on_ipv6_writes_ip6_without_brackets() -> None:
    text = str(build_offer("::1", 31000, 31002, session_id=5))
    assert "\r\no=- 5 0 IN IP6 ::1\r\n" in text
    assert "\r\nc=IN IP6 ::1\r\n" in text
    assert "[" not in text
    again = SessionDescription.parse(text)
    assert again.connection is not None
    assert (again.connection.addrtype, again.connection.address) == ("IP6", "::1")


def test_ipv6_answer_gives_bare_remote_addresses() -> None:
    offer = build_offer("2001:db8::1", 31000, 31002)
    negotiated = negotiate_answer(offer, SessionDescription.parse(ANSWER6))
    assert negotiated[0].remote_address == ("2001:db8::3", 5000)
    assert negotiated[0].remote_rtcp_address == ("2001:db8::4", 5011)
    assert negotiated[1].remote_address == ("2001:db8::3", 5002)


def test_bracketed_ip6_connection_from_a_sloppy_peer_is_accepted_bare() -> None:
    offer = build_offer("2001:db8::1", 31000, 31002)
    sloppy = ANSWER6.replace("c=IN IP6 2001:db8::3", "c=IN IP6 [2001:db8::3]")
    negotiated = negotiate_answer(offer, SessionDescription.parse(sloppy))
    assert negotiated[0].remote_address == ("2001:db8::3", 5000)


def test_answer_to_an_ipv6_offer_from_ipv6() -> None:
    codecs = {"audio": default_audio_codecs(), "video": default_video_codecs()}
    remote = SessionDescription.parse(ANSWER6)  # as an offer: one audio, one video m-line
    text = str(answer_offer(remote, codecs, "::1", [40000, 40002]))
    assert "c=IN IP6 ::1\r\n" in text and "IN IP6 ::1\r\n" in text.split("s=")[0]
    assert "[" not in text
