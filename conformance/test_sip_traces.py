"""Every SIP message in the real captures parses, round-trips and tells the README's story."""

from __future__ import annotations

import pytest

from conformance.compare import assert_round_trip
from conformance.siptrace import SIP_PORTS, TRACES, is_sip, sip_packets, trace_names
from wcs.pcap import read_pcap
from wcs.sip.message import SipRequest, parse_message
from wcs.sip.uri import NameAddr, SipUri

# The SIP ladders as /work/shared/testbed/traces/README.md tells them (method or status).
LADDERS: dict[str, list[str | int]] = {
    "01-register.pcap": ["REGISTER", 401, "REGISTER", 200, "REGISTER", 401, "REGISTER", 403],
    "02-call-av.pcap": [
        "INVITE", 407, "ACK", "INVITE", 100, "INVITE", 180, 180, 200, 200,
        "ACK", "ACK", "BYE", "BYE", 200, 200,
    ],
    "03-call-busy.pcap": [
        "INVITE", 407, "ACK", "INVITE", 100, "INVITE", 180, 180, 486, "ACK", 486, "ACK",
    ],
}  # fmt: skip


def test_all_traces_covered() -> None:
    assert trace_names() == sorted(LADDERS)


@pytest.mark.parametrize("trace", sorted(LADDERS))
def test_message_count_and_ladder(trace: str) -> None:
    messages = [parse_message(p.payload) for p in sip_packets(trace)]
    assert len(messages) == len(LADDERS[trace])
    steps = [m.method if isinstance(m, SipRequest) else m.status for m in messages]
    assert steps == LADDERS[trace]


@pytest.mark.parametrize("trace", sorted(LADDERS))
def test_sip_ports_carry_only_sip(trace: str) -> None:
    """Nothing on a SIP port was skipped by the payload test (keep-alives would show here)."""
    for p in read_pcap(TRACES / trace):
        if p.src[1] in SIP_PORTS or p.dst[1] in SIP_PORTS:
            assert is_sip(p.payload), f"frame {p.index} on a SIP port is not SIP"


@pytest.mark.parametrize("trace", sorted(LADDERS))
def test_round_trip(trace: str) -> None:
    for p in sip_packets(trace):
        try:
            assert_round_trip(parse_message(p.payload))
        except AssertionError as exc:
            raise AssertionError(f"{trace} frame {p.index}: {exc}") from exc


@pytest.mark.parametrize("trace", sorted(LADDERS))
def test_header_grammar(trace: str) -> None:
    """The structured headers of real traffic parse with the URI/Via/CSeq parsers."""
    for p in sip_packets(trace):
        msg = parse_message(p.payload)
        number, method = msg.cseq
        assert number > 0
        if isinstance(msg, SipRequest):
            assert method == msg.method, p.index
            assert SipUri.parse(msg.uri).host, p.index
        assert msg.call_id, p.index
        for via in msg.vias:
            assert via.branch is not None and via.branch.startswith("z9hG4bK"), p.index
        from_ = NameAddr.parse(msg.headers.get("From") or "")
        assert from_.tag, p.index  # every From in these traces carries a tag
        NameAddr.parse(msg.headers.get("To") or "")
        for contact in msg.headers.get_all("Contact"):
            assert NameAddr.parse(contact).uri.host == "127.0.0.1", p.index
        length = msg.headers.get("Content-Length")
        assert length is not None and int(length) == len(msg.body), p.index
        if msg.body:
            assert msg.headers.get("Content-Type") == "application/sdp", p.index
            assert msg.body.startswith(b"v=0\r\n"), p.index


@pytest.mark.parametrize("trace", ["02-call-av.pcap", "03-call-busy.pcap"])
def test_responses_match_requests(trace: str) -> None:
    """Each response's top Via branch and CSeq name a request seen earlier in the trace."""
    seen: set[tuple[str, str, int, str]] = set()
    for p in sip_packets(trace):
        msg = parse_message(p.payload)
        key = (msg.call_id, msg.top_via.branch or "", *msg.cseq)
        if isinstance(msg, SipRequest):
            seen.add(key)
        else:
            assert key in seen, f"frame {p.index}: response to an unseen request"
