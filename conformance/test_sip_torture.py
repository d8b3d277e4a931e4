"""Torture messages (RFC 4475 in spirit): valid oddities parse, invalid ones are refused
with SipParseError and nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from conformance.compare import assert_round_trip, touch_everything
from conformance.torture import TortureCase, files_on_disk, load_cases
from wcs.sip.message import SipMessage, SipParseError, SipRequest, SipResponse, parse_message
from wcs.sip.uri import NameAddr, SipUri

CASES = load_cases()
VALID = [c for c in CASES if c.valid]
INVALID = [c for c in CASES if not c.valid]

# Invalid messages the parser on branch `sip` still accepts (found by this suite). Each
# is an expected failure with strict=True: when the parser learns to refuse one, the XPASS
# fails the run and the entry must be deleted here.
KNOWN_GAPS: dict[str, str] = {}


class AcceptedInvalid(AssertionError):
    """parse_message returned a message for an invalid input."""


def _ids(cases: list[TortureCase]) -> list[str]:
    return [c.name.removesuffix(".sip") for c in cases]


def test_manifest_matches_files() -> None:
    assert files_on_disk() == sorted(c.name for c in CASES)
    assert set(KNOWN_GAPS) <= {c.name for c in INVALID}
    for case in CASES:
        assert case.name.startswith(("valid-", "invalid-")), case.name
        assert case.ua in (None, "400", "silent", "not-400"), case.name


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_valid_parses_and_round_trips(case: TortureCase) -> None:
    msg = parse_message(case.data)
    touch_everything(msg)
    assert_round_trip(msg)
    CHECKS[case.name](msg)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            marks=pytest.mark.xfail(raises=AcceptedInvalid, strict=True, reason=KNOWN_GAPS[c.name]),
        )
        if c.name in KNOWN_GAPS
        else c
        for c in INVALID
    ],
    ids=_ids(INVALID),
)
def test_invalid_is_refused(case: TortureCase) -> None:
    try:
        msg = parse_message(case.data)
    except SipParseError as exc:
        assert str(exc), "the error message must say what is wrong"
        return
    raise AcceptedInvalid(f"accepted: {msg.start_line()[:60]!r}")


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_only_sip_parse_error_ever(case: TortureCase) -> None:
    """Whatever a parser thinks of a message, it never raises anything but SipParseError,
    neither parse_message nor the accessors used on what it returned."""
    try:
        msg = parse_message(case.data)
        touch_everything(msg)
        parse_message(msg.serialize())
    except SipParseError:
        pass


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_stream_mode_never_crashes(case: TortureCase) -> None:
    """The TCP flavour (Content-Length mandatory) on the same inputs."""
    with contextlib.suppress(SipParseError):
        parse_message(case.data, stream=True)


# --- what the valid ones must mean --------------------------------------------------------


def _req(msg: SipMessage) -> SipRequest:
    assert isinstance(msg, SipRequest)
    return msg


def _resp(msg: SipMessage) -> SipResponse:
    assert isinstance(msg, SipResponse)
    return msg


def _compact(msg: SipMessage) -> None:
    assert _req(msg).method == "INVITE"
    assert msg.call_id == "compact-1@torture.test"
    assert msg.top_via.branch == "z9hG4bK-compact"
    assert msg.headers.get("Supported") == "timer, 100rel"
    assert msg.headers.get("Subject") == "compact names everywhere"
    assert msg.headers.get("Content-Type") == "application/sdp"
    assert NameAddr.parse(msg.headers.get("Contact") or "").uri.port == 5062
    assert NameAddr.parse(msg.headers.get("From") or "").display == "Carol"
    assert msg.body.startswith(b"v=0\r\n") and msg.body.endswith(b"PCMU/8000\r\n")


def _folded(msg: SipMessage) -> None:
    assert msg.cseq == (3, "OPTIONS")
    assert msg.top_via.branch == "z9hG4bK-folded"
    assert msg.headers.get("To") == "<sip:dave@torture.test>"
    assert NameAddr.parse(msg.headers.get("From") or "").tag == "f1"
    assert msg.headers.get("Subject") == "a subject that goes on and on and on"


def _whitespace(msg: SipMessage) -> None:
    assert msg.cseq == (42, "OPTIONS")
    assert msg.call_id == "ws-1@torture.test"
    via = msg.top_via
    assert (via.branch, via.sent_by) == ("z9hG4bK-ws", ("192.0.2.7", 5062))
    assert NameAddr.parse(msg.headers.get("From") or "").tag == "w1"
    assert msg.headers.get("Max-Forwards") == "70"


def _escaped(msg: SipMessage) -> None:
    uri = SipUri.parse(_req(msg).uri)
    assert _req(msg).uri == "sip:%64ave%20smith@torture.test;note=a%3Bb;lr"
    assert uri.host == "torture.test"
    assert "lr" in uri.params and uri.params["note"] is not None
    assert msg.body.decode("utf-8") == "hello, dave ☺"


def _ipv6(msg: SipMessage) -> None:
    uri = SipUri.parse(_req(msg).uri)
    assert (uri.host, uri.port, uri.transport) == ("[2001:db8::10]", 5070, "udp")
    vias = msg.vias
    assert len(vias) == 2
    assert vias[0].sent_by == ("[2001:db8::7]", 5062)
    assert vias[0].received == "2001:db8::99"
    assert vias[1].sent_by == ("[2001:db8::1]", None)
    assert msg.call_id == "v6-1@[2001:db8::7]"


def _merged(msg: SipMessage) -> None:
    assert [v.branch for v in msg.vias] == ["z9hG4bK-m1", "z9hG4bK-m2", "z9hG4bK-m3"]
    assert len(msg.headers.get_all("Route")) == 3
    contacts = msg.headers.get_all("Contact")
    assert len(contacts) == 2
    assert NameAddr.parse(contacts[0]).display == "A, B"
    assert NameAddr.parse(contacts[1]).params.get("q") == "0.5"
    assert [a.strip() for a in msg.headers.get_all("Allow")] == ["INVITE", "ACK", "BYE", "CANCEL"]


def _lf(msg: SipMessage) -> None:
    assert _req(msg).method == "BYE"
    assert msg.cseq == (9, "BYE")
    assert msg.body == b"bye\n"
    assert NameAddr.parse(msg.headers.get("To") or "").tag == "l2"


def _case(msg: SipMessage) -> None:
    assert msg.call_id == "case-1@torture.test"
    assert msg.cseq == (4, "OPTIONS")
    assert msg.top_via.branch == "z9hG4bK-case"
    assert NameAddr.parse(msg.headers.get("from") or "").tag == "cs1"
    assert SipUri.parse(_req(msg).uri).scheme == "sip"


def _unknown_headers(msg: SipMessage) -> None:
    assert msg.headers.get("x-torture-flavour") == "vanilla; with=sprinkles"
    assert msg.headers.get("P-Our.Own!Header~%") == "*strange* but a token name"
    assert msg.headers.get("X-Empty") == ""
    assert msg.headers.get("Nonexistent-Future-Header") == "1, 2, 3"


def _long(msg: SipMessage) -> None:
    assert len(msg.call_id) == 1000 + len("@torture.test")
    assert msg.cseq == (2**31 - 1, "OPTIONS")
    assert len(msg.top_via.params) >= 201
    assert len(msg.headers.get("X-Long") or "") == 900 * 10 + 899
    assert NameAddr.parse(msg.headers.get("From") or "").tag == "t" * 300


def _quoted(msg: SipMessage) -> None:
    from_ = NameAddr.parse(msg.headers.get("From") or "")
    assert from_.display == 'Carol "the tester" <not@a.uri>; \\o/'
    assert from_.tag == "q1"
    assert from_.uri.user == "carol"
    to = NameAddr.parse(msg.headers.get("To") or "")
    assert to.uri.user == "dave" and not to.display
    contacts = msg.headers.get_all("Contact")
    assert len(contacts) == 1
    assert NameAddr.parse(contacts[0]).display == "Smith, Carol; Jr."


def _minimal(msg: SipMessage) -> None:
    assert "Max-Forwards" not in msg.headers
    assert msg.cseq == (1, "OPTIONS")
    assert msg.body == b""


def _leading(msg: SipMessage) -> None:
    assert _req(msg).method == "OPTIONS"
    assert msg.call_id == "leading-1@torture.test"


def _binary(msg: SipMessage) -> None:
    assert len(msg.body) == 16
    assert msg.body[0] == 0 and b"\r\n\r\n" in msg.body and b"\xff" in msg.body


def _extra(msg: SipMessage) -> None:
    assert msg.body == b"hello"


def _method(msg: SipMessage) -> None:
    assert _req(msg).method == "FROBNICATE"
    assert msg.cseq == (1, "FROBNICATE")


def _user_params(msg: SipMessage) -> None:
    uri = SipUri.parse(_req(msg).uri)
    assert uri.host == "torture.test"
    assert uri.user == "+1-555-0100;phone-context=torture.test"
    assert uri.params == {"user": "phone"}


def _zeros(msg: SipMessage) -> None:
    assert msg.body == b"abcde"


def _utf8_reason(msg: SipMessage) -> None:
    r = _resp(msg)
    assert (r.status, r.reason) == (486, "Occupé ☎ — call later")


def _unknown_code(msg: SipMessage) -> None:
    r = _resp(msg)
    assert r.status == 499
    assert len(r.vias) == 3 and r.vias[2].sent_by == ("198.51.100.3", 5090)


def _empty_reason(msg: SipMessage) -> None:
    r = _resp(msg)
    assert (r.status, r.reason) == (200, "")
    assert r.cseq == (2, "OPTIONS")


CHECKS: dict[str, Callable[[SipMessage], None]] = {
    "valid-compact-forms.sip": _compact,
    "valid-folded-headers.sip": _folded,
    "valid-odd-whitespace.sip": _whitespace,
    "valid-escaped-uri.sip": _escaped,
    "valid-ipv6-hosts.sip": _ipv6,
    "valid-merged-and-split-headers.sip": _merged,
    "valid-lf-only.sip": _lf,
    "valid-case-variations.sip": _case,
    "valid-unknown-headers.sip": _unknown_headers,
    "valid-long-values.sip": _long,
    "valid-quoted-display-names.sip": _quoted,
    "valid-minimal-headers.sip": _minimal,
    "valid-leading-crlf.sip": _leading,
    "valid-binary-body.sip": _binary,
    "valid-extra-bytes-after-body.sip": _extra,
    "valid-unknown-method.sip": _method,
    "valid-user-with-params.sip": _user_params,
    "valid-content-length-leading-zeros.sip": _zeros,
    "valid-response-utf8-reason.sip": _utf8_reason,
    "valid-response-unknown-code.sip": _unknown_code,
    "valid-response-empty-reason.sip": _empty_reason,
}


def test_every_valid_case_has_checks() -> None:
    assert set(CHECKS) == {c.name for c in VALID}
