"""RFC 6184 packetizer: NAL units of one access unit → RTP payloads.

Mode 1 (non-interleaved): NAL units larger than ``mtu`` are split into FU-A fragments; runs
of small consecutive NAL units (typically SPS + PPS, or SEI) are aggregated into STAP-A when
``stap_a`` is on. Mode 0: one NAL unit per packet; a NAL unit over ``mtu`` is a ValueError.

``mtu`` is the largest RTP *payload*, not the datagram size. The caller writes the RTP
headers: every payload of one access unit carries the same timestamp, and the last one the
marker bit.
"""

from __future__ import annotations

from collections.abc import Sequence

from .nal import NAL_FU_A, NAL_STAP_A


class H264Packetizer:
    def __init__(self, *, mtu: int = 1200, mode: int = 1, stap_a: bool = True) -> None:
        if mode not in (0, 1):
            raise ValueError("packetization-mode must be 0 or 1")
        if mtu < 16:
            raise ValueError("mtu too small")
        self.mtu = mtu
        self.mode = mode
        self.stap_a = stap_a and mode == 1

    def packetize(self, nals: Sequence[bytes]) -> list[bytes]:
        mtu = self.mtu
        out: list[bytes] = []
        pending: list[bytes] = []  # small NAL units waiting to be aggregated
        pending_size = 1  # the STAP-A header byte
        for nal in nals:
            if not nal:
                continue
            size = len(nal)
            if self.stap_a and size + 2 + 1 <= mtu:
                if pending_size + 2 + size > mtu:
                    self._flush_stap(pending, out)
                    pending = []
                    pending_size = 1
                pending.append(nal)
                pending_size += 2 + size
                continue
            if pending:
                self._flush_stap(pending, out)
                pending = []
                pending_size = 1
            if size <= mtu:
                out.append(bytes(nal))
            elif self.mode == 0:
                raise ValueError(f"NAL unit of {size} bytes exceeds mtu {mtu} in mode 0")
            else:
                self._fragment(nal, out)
        if pending:
            self._flush_stap(pending, out)
        return out

    @staticmethod
    def _flush_stap(nals: list[bytes], out: list[bytes]) -> None:
        if len(nals) == 1:
            out.append(bytes(nals[0]))
            return
        # F is the OR, NRI the maximum of the aggregated units (RFC 6184 5.7.1).
        f = 0
        nri = 0
        parts: list[bytes] = []
        for n in nals:
            f |= n[0] & 0x80
            nri = max(nri, n[0] & 0x60)
            parts.append(len(n).to_bytes(2, "big"))
            parts.append(n)
        out.append(bytes((f | nri | NAL_STAP_A,)) + b"".join(parts))

    def _fragment(self, nal: bytes, out: list[bytes]) -> None:
        header = nal[0]
        indicator = (header & 0xE0) | NAL_FU_A
        body = memoryview(nal)[1:]
        room = self.mtu - 2
        count = -(-len(body) // room)
        step = -(-len(body) // count)  # equal fragments rather than a tiny last one
        for i, pos in enumerate(range(0, len(body), step)):
            fu = header & 0x1F
            if i == 0:
                fu |= 0x80
            if pos + step >= len(body):
                fu |= 0x40
            out.append(bytes((indicator, fu)) + body[pos : pos + step])
