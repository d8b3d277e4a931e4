"""``wcs conformance FILE.pcap``: what our parsers make of a capture of a SIP device."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from wcs.pcap.reader import PcapError
from wcs.pcap.report import Report, analyze


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "conformance",
        help="replay a pcap of a SIP device through our parsers and depacketizers",
        description="Exit status: 0 when everything parsed, 1 when something did not, "
        "2 when the file cannot be read.",
    )
    p.add_argument("pcap", help="a classic pcap (pcapng: convert with editcap -F pcap)")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = analyze(args.pcap)
    except (OSError, PcapError) as exc:
        print(f"wcs conformance: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(report), indent=2))
    else:
        print(render(report))
    return 1 if report.failures else 0


def to_json(report: Report) -> dict[str, Any]:
    streams = []
    for s in report.streams:
        d = asdict(s)
        d.pop("_depacketizer", None)
        d.pop("_last_seq", None)
        streams.append(d)
    return {
        "sip": [asdict(m) for m in report.sip],
        "streams": streams,
        "rtcp": {"ok": report.rtcp_ok, "errors": report.rtcp_errors},
        "rtp_errors": report.rtp_errors,
        "other_packets": report.other,
        "failures": report.failures,
    }


def _addr(a: tuple[str, int]) -> str:
    return f"{a[0]}:{a[1]}"


def render(report: Report) -> str:
    out = []
    ok = sum(1 for m in report.sip if m.ok)
    out.append(f"SIP messages: {len(report.sip)} ({ok} parsed, {len(report.sip) - ok} failed)")
    for m in report.sip:
        mark = "ok  " if m.ok else "FAIL"
        line = f"  {mark} #{m.frame:<5} {m.transport} {_addr(m.src)} -> {_addr(m.dst)}  {m.summary}"
        out.append(line)
        if m.error:
            out.append(f"         why: {m.error}")
        if m.sdp:
            out.append(f"         sdp {m.sdp}")
    out.append("")
    out.append(f"RTP streams: {len(report.streams)}")
    for s in report.streams:
        pts = ",".join(str(pt) for pt in sorted(s.payload_types))
        out.append(
            f"  ssrc {s.ssrc:#010x} {_addr(s.src)} -> {_addr(s.dst)}  pt {pts} "
            f"{s.codec or '(codec unknown)'}: {s.packets} packets, {s.lost} lost, "
            f"{s.out_of_order} out of order"
        )
        if s.codec and s.codec.upper().startswith("H264"):
            bad = "" if not (s.damaged or s.malformed_payloads) else "  <- problems"
            out.append(
                f"       H.264: {s.access_units} pictures, {s.keyframes} keyframes, "
                f"{s.damaged} damaged, {s.malformed_payloads} malformed payloads"
                f"{', ' + s.picture if s.picture else ''}{bad}"
            )
        for note in s.notes:
            out.append(f"       note: {note}")
    out.append("")
    out.append(f"RTCP: {report.rtcp_ok} compound packets parsed, {len(report.rtcp_errors)} failed")
    for frame, why in report.rtcp_errors[:20]:
        out.append(f"  FAIL #{frame}: {why}")
    if report.rtp_errors:
        out.append(f"RTP packets that did not parse: {len(report.rtp_errors)}")
        for frame, why in report.rtp_errors[:20]:
            out.append(f"  FAIL #{frame}: {why}")
    out.append(f"Other packets (not SIP/RTP/RTCP): {report.other}")
    out.append("")
    out.append(
        "RESULT: "
        + (
            "everything parsed"
            if not report.failures
            else f"{report.failures} problem(s), see FAIL and notes above"
        )
    )
    return "\n".join(out)
