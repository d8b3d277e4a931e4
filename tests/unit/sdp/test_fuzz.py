"""Bad input only ever raises SdpError; whatever parses also round-trips."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.sdp import SdpError, SessionDescription, negotiate_answer

from .samples import CHROME_OFFER, trace_sdp_bodies

SEEDS = [CHROME_OFFER, *(body for _, _, body in trace_sdp_bodies()[-1:])]

_LINE_STARTS = [
    "v=",
    "o=",
    "s=",
    "c=",
    "t=",
    "m=",
    "b=",
    "a=",
    "a=rtpmap:",
    "a=fmtp:",
    "a=rtcp-fb:",
    "a=ssrc:",
    "a=rtcp:",
    "a=extmap:",
    "a=crypto:",
    "a=group:",
    "r=",
]


def _check(text: str | bytes) -> None:
    try:
        sd = SessionDescription.parse(text)
    except SdpError:
        return
    again = SessionDescription.parse(str(sd))
    assert again == sd
    with contextlib.suppress(SdpError):
        negotiate_answer(sd, again)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    _check(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _check(b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\n" + data)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10_000),
            st.integers(min_value=0, max_value=12),
            st.text(alphabet=" :/=;*0123456789abcxyz\r\n\t-", max_size=8),
        ),
        max_size=6,
    ),
)
def test_mutated_real_sdp(seed: str, edits: list[tuple[int, int, str]]) -> None:
    text = seed
    for pos, cut, insert in edits:
        pos %= len(text) + 1
        text = text[:pos] + insert + text[pos + cut :]
    _check(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_LINE_STARTS), st.text(alphabet=" :/0123456789abIPN4*", max_size=20)
        ),
        max_size=12,
    )
)
def test_structured_lines(lines: list[tuple[str, str]]) -> None:
    body = "".join(f"{k}{v}\r\n" for k, v in lines)
    _check("v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\nm=audio 1 RTP/AVP 0 96\r\n" + body)
