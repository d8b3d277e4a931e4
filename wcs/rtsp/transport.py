"""The RTSP ``Transport`` header (RFC 2326 12.39): what the client asks, what we answer.

We serve unicast RTP/AVP over UDP (``client_port``) and interleaved on the RTSP connection
(``RTP/AVP/TCP``, ``interleaved``). The destination is always the client's own address:
a ``destination`` parameter is not honoured (it would let anyone aim a stream at a third
party).
"""

from __future__ import annotations

from dataclasses import dataclass


class TransportError(ValueError):
    """A Transport header that cannot be parsed (400)."""


@dataclass(frozen=True, slots=True)
class TransportSpec:
    """One alternative of the client's Transport header."""

    protocol: str  # "RTP/AVP" | "RTP/AVP/UDP" | "RTP/AVP/TCP" | anything else (refused)
    unicast: bool
    client_ports: tuple[int, int] | None = None
    interleaved: tuple[int, int] | None = None

    @property
    def tcp(self) -> bool:
        return self.protocol.upper() == "RTP/AVP/TCP"

    @property
    def udp(self) -> bool:
        return self.protocol.upper() in ("RTP/AVP", "RTP/AVP/UDP")


@dataclass(frozen=True, slots=True)
class TrackTransport:
    """What was agreed for one track of a session."""

    tcp: bool
    client_ports: tuple[int, int] | None = None  # UDP: the client's RTP, RTCP ports
    server_ports: tuple[int, int] | None = None  # UDP: ours
    channels: tuple[int, int] | None = None  # TCP: interleaved RTP, RTCP channels

    def header(self, ssrc: int | None = None) -> str:
        if self.tcp:
            assert self.channels is not None
            value = f"RTP/AVP/TCP;unicast;interleaved={self.channels[0]}-{self.channels[1]}"
        else:
            assert self.client_ports is not None and self.server_ports is not None
            c, s = self.client_ports, self.server_ports
            value = f"RTP/AVP;unicast;client_port={c[0]}-{c[1]};server_port={s[0]}-{s[1]}"
        if ssrc is not None:
            value += f";ssrc={ssrc:08X}"
        return value


def _pair(value: str, lo: int, hi: int, what: str) -> tuple[int, int]:
    first, dash, second = value.partition("-")
    if not first.isdigit() or (dash and not second.isdigit()) or len(value) > 11:
        raise TransportError(f"bad {what} {value!r}")
    a = int(first)
    b = int(second) if dash else a + 1
    if not (lo <= a <= hi and lo <= b <= hi):
        raise TransportError(f"{what} {value!r} out of range")
    return a, b


def parse_transport(value: str) -> list[TransportSpec]:
    specs: list[TransportSpec] = []
    for alternative in value.split(","):
        fields = [f.strip() for f in alternative.split(";") if f.strip()]
        if not fields:
            continue
        protocol, unicast = fields[0], True
        ports = channels = None
        for f in fields[1:]:
            name, _, arg = f.partition("=")
            name = name.lower()
            if name == "multicast":
                unicast = False
            elif name == "client_port":
                ports = _pair(arg, 1, 65535, "client_port")
            elif name == "interleaved":
                channels = _pair(arg, 0, 255, "interleaved")
        specs.append(TransportSpec(protocol, unicast, ports, channels))
    if not specs:
        raise TransportError("empty Transport header")
    return specs
