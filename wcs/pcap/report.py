"""Replay a capture through our parsers and say, per SIP message and per RTP stream, what
parsed and what did not, and why (``wcs conformance FILE.pcap``).

SIP (UDP datagrams, TCP streams reassembled per flow) goes through
:func:`wcs.sip.message.parse_message` and its SDP bodies through :mod:`wcs.sdp`; the SDP
tells which RTP port carries which codec. RTP goes through :class:`wcs.rtp.RtpPacket`,
RTCP through :func:`wcs.rtp.rtcp.parse_compound`, H.264 payloads through
:class:`wcs.media.h264.H264Depacketizer` (and the SPS parser for the picture size).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wcs import sdp
from wcs.media.h264 import H264Depacketizer
from wcs.pcap.reader import Packet, read_pcap
from wcs.rtp import rtcp
from wcs.rtp.packet import RtpError, RtpPacket
from wcs.sip.errors import SipParseError
from wcs.sip.framer import StreamFramer
from wcs.sip.message import SipRequest, SipResponse, parse_message

Addr = tuple[str, int]
_SIP_START = (b"SIP/2.0", b"INVITE", b"ACK", b"BYE", b"CANCEL", b"OPTIONS", b"REGISTER",
              b"INFO", b"UPDATE", b"PRACK", b"SUBSCRIBE", b"NOTIFY", b"REFER", b"MESSAGE",
              b"PUBLISH")  # fmt: skip


@dataclass(slots=True)
class SipResult:
    frame: int
    src: Addr
    dst: Addr
    transport: str
    summary: str  # start line, or the first bytes when it did not parse
    ok: bool
    error: str | None = None
    sdp: str | None = None  # "ok: audio PCMU/8000, video H264/90000" or the SDP error


@dataclass(slots=True)
class Codec:
    name: str
    clock_rate: int
    fmtp: str | None = None


@dataclass(slots=True)
class StreamResult:
    src: Addr
    dst: Addr
    ssrc: int
    payload_types: dict[int, int] = field(default_factory=dict)  # pt -> packets
    codec: str | None = None  # from the SDP for this port and payload type
    packets: int = 0
    octets: int = 0
    lost: int = 0
    out_of_order: int = 0
    first_frame: int = 0
    # H.264 only
    access_units: int = 0
    keyframes: int = 0
    damaged: int = 0
    malformed_payloads: int = 0
    picture: str | None = None
    notes: list[str] = field(default_factory=list)
    _depacketizer: H264Depacketizer | None = None
    _last_seq: int | None = None


@dataclass(slots=True)
class Report:
    sip: list[SipResult] = field(default_factory=list)
    streams: list[StreamResult] = field(default_factory=list)
    rtcp_ok: int = 0
    rtcp_errors: list[tuple[int, str]] = field(default_factory=list)
    rtp_errors: list[tuple[int, str]] = field(default_factory=list)
    other: int = 0  # packets that are none of SIP, RTP, RTCP (STUN, DNS, ...)

    @property
    def failures(self) -> int:
        sip_bad = sum(1 for m in self.sip if not m.ok or (m.sdp or "").startswith("error"))
        rtp_bad = sum(1 for s in self.streams if s.damaged or s.malformed_payloads)
        return sip_bad + rtp_bad + len(self.rtcp_errors) + len(self.rtp_errors)


def analyze(path: str | Path) -> Report:
    report = Report()
    media_map: dict[Addr, dict[int, Codec]] = {}  # RTP destination -> payload type -> codec
    framers: dict[tuple[Addr, Addr], StreamFramer] = {}
    streams: dict[tuple[Addr, Addr, int], StreamResult] = {}
    packets = list(read_pcap(path))
    # SIP first (the SDP may come after the first RTP packets in an early-media capture).
    rest: list[Packet] = []
    for p in packets:
        if _looks_sip(p.payload) or (p.proto == "tcp" and (p.src, p.dst) in framers):
            _sip(report, p, framers, media_map)
        elif p.payload:
            rest.append(p)
    for p in rest:
        _media(report, p, media_map, streams)
    report.streams = sorted(streams.values(), key=lambda s: s.first_frame)
    for s in report.streams:
        _finish_stream(s)
    return report


def _looks_sip(data: bytes) -> bool:
    head = data.lstrip(b"\r\n")[:12].upper()
    return any(head.startswith(start) for start in _SIP_START)


def _sip(
    report: Report,
    p: Packet,
    framers: dict[tuple[Addr, Addr], StreamFramer],
    media_map: dict[Addr, dict[int, Codec]],
) -> None:
    if p.proto == "tcp":
        framer = framers.setdefault((p.src, p.dst), StreamFramer())
        try:
            messages = framer.feed(p.payload)
        except SipParseError as exc:
            report.sip.append(SipResult(p.index, p.src, p.dst, "tcp", _first_line(p.payload),
                                        False, f"TCP framing: {exc}"))  # fmt: skip
            framers.pop((p.src, p.dst), None)
            return
    else:
        messages = [p.payload]
    for data in messages:
        result = SipResult(p.index, p.src, p.dst, p.proto, _first_line(data), True)
        try:
            msg = parse_message(data, stream=p.proto == "tcp")
            result.summary = msg.start_line()
            msg.cseq  # noqa: B018 -- a message without a usable CSeq is not usable
            msg.top_via  # noqa: B018
        except (SipParseError, ValueError) as exc:
            result.ok = False
            result.error = str(exc)
            report.sip.append(result)
            continue
        ctype = (msg.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if msg.body and ctype == "application/sdp":
            result.sdp = _sdp(msg, media_map)
        report.sip.append(result)


def _sdp(msg: SipRequest | SipResponse, media_map: dict[Addr, dict[int, Codec]]) -> str:
    try:
        desc = sdp.SessionDescription.parse(msg.body.decode("utf-8", "replace"))
    except sdp.SdpError as exc:
        return f"error: {exc}"
    parts = []
    for m in desc.media:
        conn = desc.connection_for(m)
        codecs = [f"{c.name}/{c.clock_rate}" for c in m.codecs]
        parts.append(f"{m.kind} {m.port} {' '.join(codecs[:3])}")
        if conn is not None and m.port:
            table = media_map.setdefault((conn.host, m.port), {})
            for c in m.codecs:
                table[c.payload_type] = Codec(c.name, c.clock_rate, c.fmtp)
    return "ok: " + "; ".join(parts)


def _media(
    report: Report,
    p: Packet,
    media_map: dict[Addr, dict[int, Codec]],
    streams: dict[tuple[Addr, Addr, int], StreamResult],
) -> None:
    data = p.payload
    if p.proto != "udp" or len(data) < 2 or data[0] >> 6 != 2:
        report.other += 1
        return
    if 192 <= data[1] <= 223:  # RTCP packet types 192-223 (RFC 5761 §4)
        try:
            rtcp.parse_compound(data)
            report.rtcp_ok += 1
        except ValueError as exc:
            report.rtcp_errors.append((p.index, str(exc)))
        return
    try:
        packet = RtpPacket.parse(data)
    except RtpError as exc:
        report.rtp_errors.append((p.index, str(exc)))
        return
    key = (p.src, p.dst, packet.ssrc)
    s = streams.get(key)
    if s is None:
        s = streams[key] = StreamResult(p.src, p.dst, packet.ssrc, first_frame=p.index)
    s.packets += 1
    s.octets += len(data)
    s.payload_types[packet.payload_type] = s.payload_types.get(packet.payload_type, 0) + 1
    if s._last_seq is not None:
        delta = (packet.sequence - s._last_seq) & 0xFFFF
        if delta == 0 or delta > 0x8000:
            s.out_of_order += 1
        else:
            s.lost += delta - 1
            s._last_seq = packet.sequence
    else:
        s._last_seq = packet.sequence
    codec = media_map.get(p.dst, {}).get(packet.payload_type)
    if codec is None:
        return
    s.codec = f"{codec.name}/{codec.clock_rate}"
    if codec.name.upper() != "H264":
        return
    if s._depacketizer is None:
        sprop = sdp.parse_fmtp(codec.fmtp).get("sprop-parameter-sets")
        s._depacketizer = H264Depacketizer(sprop, drop_damaged=False)
    s._depacketizer.push(packet.payload, packet.sequence, packet.timestamp, packet.marker)


def _finish_stream(s: StreamResult) -> None:
    if s.codec is None:
        s.notes.append("no SDP in the capture names this port and payload type")
    d = s._depacketizer
    if d is None:
        return
    # No flush(): a picture cut off by the end of the capture is not the device's fault.
    st = d.stats
    s.access_units, s.keyframes, s.damaged = st.access_units, st.keyframes, st.damaged
    s.malformed_payloads = st.malformed
    if d.sps_info is not None:
        s.picture = f"{d.sps_info.width}x{d.sps_info.height}"
    elif d.sps is None:
        s.notes.append("no SPS seen: the picture size is unknown")
    if st.lost:
        s.notes.append(f"{st.lost} packets missing: access units around them are damaged")
    if st.malformed:
        s.notes.append(f"{st.malformed} payloads could not be depacketized (RFC 6184)")
    if not st.keyframes:
        s.notes.append("no complete keyframe: a player could not start on this stream")


def _first_line(data: bytes) -> str:
    return data.lstrip(b"\r\n").split(b"\n", 1)[0].decode("utf-8", "replace").strip()[:80]
