"""DTMF in SIP INFO bodies: tolerant parsing of what PBXs send, exact formatting of ours,
a clear refusal of anything that is not one key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.media.dtmf import DIGITS, DtmfError, DtmfKey
from wcs.sip.dtmf_info import (
    DTMF,
    DTMF_RELAY,
    DtmfInfoError,
    format_dtmf,
    format_relay,
    info_body,
    is_dtmf_info,
    parse_dtmf,
    parse_info,
    parse_relay,
)


@pytest.mark.parametrize(
    ("body", "digit", "ms"),
    [
        (b"Signal=5\r\nDuration=160\r\n", "5", 160),
        (b"Signal=5\nDuration=160", "5", 160),
        (b"signal = *\r\nduration = 250\r\n", "*", 250),
        (b"SIGNAL= #\r\n", "#", 0),  # no Duration
        (b"Signal= *\r\nDuration=\r\n", "*", 0),
        (b"Signal=a\r\nDuration=100\r\n", "A", 100),
        (b"Signal=11\r\nDuration=100\r\n", "#", 100),  # an RFC 4733 event code
        (b"Signal=10\r\n", "*", 0),
        (b"\r\nSignal=0\r\n\r\nDuration=90\r\n", "0", 90),
        (b"Duration=80\r\nSignal=D\r\n", "D", 80),
    ],
)
def test_relay_tolerant(body: bytes, digit: str, ms: int) -> None:
    assert parse_relay(body) == DtmfKey(digit, ms, "INFO")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "without Signal"),
        (b"Duration=160\r\n", "without Signal"),
        (b"Signal=\r\n", "not a DTMF key"),
        (b"Signal=E\r\n", "not a DTMF key"),
        (b"Signal=16\r\n", "not a DTMF key"),
        (b"Signal=12345\r\n", "not a DTMF key"),
        (b"Signal=5\r\nDuration=abc\r\n", "Duration"),
        (b"Signal=5\r\nDuration=-5\r\n", "Duration"),
        (b"hello world", "without '='"),
        (b"Signal=\xff\r\n", "not ASCII"),
        (b"Signal=1\r\n" + b"x=y\r\n" * 300, "too long"),
    ],
)
def test_relay_garbage_refused(body: bytes, match: str) -> None:
    with pytest.raises(DtmfInfoError, match=match):
        parse_relay(body)


def test_errors_are_dtmf_errors_and_short() -> None:
    with pytest.raises(DtmfError) as info:
        parse_relay(b"garbage " * 100)
    assert len(str(info.value)) < 120


@pytest.mark.parametrize(("body", "digit"), [(b"5", "5"), (b" #\r\n", "#"), (b"b", "B")])
def test_application_dtmf(body: bytes, digit: str) -> None:
    assert parse_dtmf(body) == DtmfKey(digit, 0, "INFO_RELAY")


@pytest.mark.parametrize("body", [b"", b"55", b"x", b"Signal=5", b"\xff"])
def test_application_dtmf_garbage(body: bytes) -> None:
    with pytest.raises(DtmfInfoError, match="not one DTMF key"):
        parse_dtmf(body)


def test_dispatch_on_content_type() -> None:
    assert parse_info("Application/DTMF-Relay; charset=us-ascii", b"Signal=1").digit == "1"
    assert parse_info("application/dtmf", b"2").source == "INFO_RELAY"
    assert is_dtmf_info("application/dtmf-relay")
    assert not is_dtmf_info("application/media_control+xml")
    assert not is_dtmf_info(None)
    with pytest.raises(DtmfInfoError, match="does not carry DTMF"):
        parse_info("application/media_control+xml", b"<x/>")


def test_format() -> None:
    assert format_relay("5") == b"Signal=5\r\nDuration=160\r\n"
    assert format_relay("*", 250) == b"Signal=*\r\nDuration=250\r\n"
    assert format_dtmf("#") == b"#"
    assert info_body("INFO", "1", 100) == (DTMF_RELAY, b"Signal=1\r\nDuration=100\r\n")
    assert info_body("INFO_RELAY", "d") == (DTMF, b"D")
    for bad in ("", "12", "x"):
        with pytest.raises(DtmfInfoError):
            format_relay(bad)
        with pytest.raises(DtmfInfoError):
            format_dtmf(bad)
    with pytest.raises(DtmfInfoError):
        format_relay("1", 0)
    with pytest.raises(DtmfInfoError):
        info_body("RFC2833", "1")


@given(digit=st.sampled_from(DIGITS), ms=st.integers(1, 60_000))
def test_round_trip(digit: str, ms: int) -> None:
    assert parse_info(DTMF_RELAY, format_relay(digit, ms)) == DtmfKey(digit, ms, "INFO")
    assert parse_info(DTMF, format_dtmf(digit)) == DtmfKey(digit, 0, "INFO_RELAY")


@given(body=st.binary(max_size=200))
def test_any_bytes_parse_or_refuse(body: bytes) -> None:
    for ct in (DTMF_RELAY, DTMF):
        try:
            key = parse_info(ct, body)
        except DtmfInfoError:
            continue
        assert key.digit in DIGITS
