"""A light receive-only WebRTC endpoint for load tests: real ICE, DTLS and SRTP, little else.

Cheap per packet on purpose, so one farm process can stand in for hundreds of browsers:

* ICE: STUN binding checks (aioice's STUN codec), controlling when we offered (WHEP),
  controlled when we answer (Janus), switching on a role conflict (487).
* DTLS: ``wcs.webrtc.dtls.DtlsSession`` in the role the SDP gives us.
* SRTP: the header is in the clear, so sequence numbers (loss) and our send-time extension
  (latency) are read without decrypting. One packet in ``verify_every`` is unprotected
  with the negotiated keys, to prove the stream really is valid SRTP.
* Arrival times are the kernel's (SO_TIMESTAMPNS, CLOCK_REALTIME): the farm's own event
  loop delay does not count as server latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import struct
import time
from array import array
from dataclasses import dataclass, field

import pylibsrtp
from aioice import stun

from bench.stamp import read_stamp
from wcs.rtp.srtp import _PROFILES
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import SRTP_PROFILES, DtlsConnected, DtlsFailed, DtlsSession
from wcs.webrtc.offer import parse_offer

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TS = struct.Struct("@qq")
CHECK_INTERVAL = 0.05
KEEPALIVE_INTERVAL = 2.0
RCVBUF = 1 << 20
STABLE_MATCHES = 8
STALE_NS = 300_000_000
MAX_ATTEMPTS = 400  # e.g. a tone whose every payload is the same: give up
AMBIGUOUS_NS = 2_000_000_000  # a payload seen twice within this is no key
_SWEEP_BUF = bytearray(2048)  # one event loop: the sweeps never overlap


@dataclass(slots=True)
class TrackStats:
    """Receive figures of one SSRC."""

    payload_type: int = -1
    packets: int = 0
    first_seq: int = -1
    highest: int = -1  # extended sequence number
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))
    # Correlation (servers that drop our extension): source seq = seq - offset
    offset: int | None = None
    sent_ns: array[int] | None = None
    agreed: int = 0  # matches in a row that gave the same offset
    attempts: int = 0

    def expected(self) -> int:
        return 0 if self.first_seq < 0 else self.highest - self.first_seq + 1

    def lost(self) -> int:
        return max(self.expected() - self.packets, 0)


class SendLog:
    """What one feeder sent: send time per (kind, sequence) and the last seq of a payload.

    For servers that strip RTP header extensions (Janus): a viewer in the same process
    decrypts one packet, finds its payload here, and from then on maps every arriving
    sequence number back to the source's, and so to the send time.
    """

    def __init__(self) -> None:
        self.sent: dict[str, array[int]] = {
            k: array("q", bytes(8 * 65536)) for k in ("audio", "video")
        }
        self._payloads: dict[bytes, tuple[str, int, int]] = {}
        self._ambiguous: set[bytes] = set()  # repeated within a loop (silence, ...)

    def record(self, kind: str, seq: int, payload: bytes, now_ns: int) -> None:
        self.sent[kind][seq] = now_ns
        prev = self._payloads.get(payload)
        if prev is not None and now_ns - prev[2] < AMBIGUOUS_NS:
            self._ambiguous.add(payload)
        self._payloads[payload] = (kind, seq, now_ns)

    def find(self, payload: bytes) -> tuple[str, int] | None:
        if payload in self._ambiguous:
            return None
        found = self._payloads.get(payload)
        return None if found is None else (found[0], found[1])


class LightViewer:
    """One receive-only peer on one UDP socket. Use ``offer()`` (WHEP) or ``answer(sdp)``."""

    def __init__(
        self,
        certificate: Certificate,
        *,
        verify_every: int = 50,
        keep_latency: bool = True,
        correlator: SendLog | None = None,
        srtp_profiles: tuple[str, ...] = SRTP_PROFILES,
    ) -> None:
        self.correlator = correlator
        self.srtp_profiles = srtp_profiles  # offered in DTLS use_srtp, in this order
        self.certificate = certificate
        self.ufrag = secrets.token_hex(4)
        self.pwd = secrets.token_hex(12)
        self.tiebreaker = int.from_bytes(os.urandom(8), "big")
        self.verify_every = verify_every
        self.keep_latency = keep_latency
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self.port: int = self.sock.getsockname()[1]
        self.controlling = True
        self.remote: tuple[str, int] | None = None
        self.remote_ufrag = ""
        self.remote_pwd = ""
        self.dtls: DtlsSession | None = None
        self.is_dtls_client = False
        self.ice_ok = False  # a check of ours succeeded
        self.nominated = False
        self.connected = asyncio.Event()
        self.failed = ""
        self.srtp_profile = ""
        self._rx: pylibsrtp.Session | None = None
        self.tracks: dict[int, TrackStats] = {}
        self.rtcp = 0
        self.verified = 0
        self.verify_failed = 0
        self.verify_errors: dict[str, int] = {}  # libsrtp's reason -> packets
        self.first_verify_failure: str | None = None
        self._last_verified: dict[bytes, bytes] = {}  # SSRC -> sequence number (bytes)
        self.no_stamp = 0
        self._n = 0
        self.passive = False  # drained by the farm's sweep, not by an event-loop reader
        self.swept = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dtls_timer: asyncio.TimerHandle | None = None
        self.closed = False

    # --- SDP ---------------------------------------------------------------------------

    def _media_lines(self, mids: list[tuple[str, str, list[str]]], setup: str) -> str:
        out = [
            "v=0",
            f"o=- {secrets.randbits(62)} 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE " + " ".join(m for _, m, _ in mids),
            "a=msid-semantic: WMS",
        ]
        for i, (kind, mid, fmts) in enumerate(mids):
            pts = [f.split()[0] for f in fmts]
            out += [
                f"m={kind} {self.port if i == 0 else 9} UDP/TLS/RTP/SAVPF {' '.join(pts)}",
                "c=IN IP4 127.0.0.1",
                f"a=mid:{mid}",
                "a=recvonly",
                "a=rtcp-mux",
                f"a=ice-ufrag:{self.ufrag}",
                f"a=ice-pwd:{self.pwd}",
                f"a=fingerprint:sha-256 {self.certificate.fingerprint}",
                f"a=setup:{setup}",
            ]
            for f in fmts:
                pt, rest = f.split(" ", 1)
                name, _, fmtp = rest.partition(";")
                out.append(f"a=rtpmap:{pt} {name}")
                if fmtp:
                    out.append(f"a=fmtp:{pt} {fmtp}")
                if kind == "video":
                    out += [f"a=rtcp-fb:{pt} nack", f"a=rtcp-fb:{pt} nack pli"]
            if i == 0:
                out.append(f"a=candidate:1 1 udp 2130706431 127.0.0.1 {self.port} typ host")
                out.append("a=end-of-candidates")
        return "\r\n".join(out) + "\r\n"

    def offer(self) -> str:
        """A WHEP offer: PCMU audio + H.264 video, receive only, actpass."""
        self.controlling = True
        return self._media_lines(
            [
                ("audio", "0", ["0 PCMU/8000", "8 PCMA/8000"]),
                (
                    "video",
                    "1",
                    [
                        "96 H264/90000;packetization-mode=1;profile-level-id=42e01f;"
                        "level-asymmetry-allowed=1"
                    ],
                ),
            ],
            "actpass",
        )

    def answer(self, offer_sdp: str) -> str:
        """Answer a server's offer (Janus): every m-line's first codec, receive only."""
        self.controlling = False
        offer = parse_offer(offer_sdp)
        mids: list[tuple[str, str, list[str]]] = []
        for m in offer.media:
            if not m.codecs or m.port == 0:
                continue
            c = m.codecs[0]
            name = f"{c.name}/{c.clock_rate}" + (f"/{c.channels}" if c.channels else "")
            if c.fmtp:
                name += f";{c.fmtp}"
            mids.append((m.kind, m.mid or str(len(mids)), [f"{c.payload_type} {name}"]))
        self.set_remote(offer_sdp)
        return self._media_lines(mids, "active")

    def set_remote(self, sdp: str) -> None:
        desc = parse_offer(sdp)
        self.remote_ufrag, self.remote_pwd = desc.ice_ufrag, desc.ice_pwd
        for m in desc.media:
            for cand in m.candidates:
                parts = cand.split()
                if (
                    len(parts) >= 8
                    and parts[2].lower() == "udp"
                    and parts[1] == "1"
                    and parts[4].startswith("127.")
                ):
                    self.remote = (parts[4], int(parts[5]))
                    break
            if self.remote:
                break
        if self.remote is None:
            raise ValueError("the remote SDP has no 127.x UDP candidate")
        # Our DTLS role: the opposite of theirs; we answer "active" to their actpass.
        self.is_dtls_client = desc.setup in ("passive", "actpass")
        self.dtls = DtlsSession(
            self.certificate, self.is_dtls_client, desc.fingerprints, self.srtp_profiles
        )

    # --- running -----------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        loop.add_reader(self.sock.fileno(), self._readable)
        self._tasks.append(loop.create_task(self._checks()))

    async def _checks(self) -> None:
        # Connectivity checks until one succeeds (and, controlled, until nominated), then
        # consent keepalives so the server's consent timer never fires.
        deadline = time.monotonic() + 15.0
        while not self.closed and not (self.ice_ok and (self.controlling or self.nominated)):
            if time.monotonic() > deadline:
                self.failed = "ICE timeout"
                self.connected.set()
                return
            self._send_check()
            await asyncio.sleep(CHECK_INTERVAL)
        while not self.closed:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            self._send_check()

    def _send_check(self) -> None:
        if self.remote is None:
            return
        attrs: dict[str, object] = {
            "USERNAME": f"{self.remote_ufrag}:{self.ufrag}",
            "PRIORITY": 1853824767,
        }
        if self.controlling:
            attrs["ICE-CONTROLLING"] = self.tiebreaker
            attrs["USE-CANDIDATE"] = None
        else:
            attrs["ICE-CONTROLLED"] = self.tiebreaker
        msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, attributes=attrs)
        msg.add_message_integrity(self.remote_pwd.encode())
        msg.add_fingerprint()
        self._send(bytes(msg))

    def _send(self, data: bytes) -> None:
        if self.remote is not None:
            with contextlib.suppress(OSError):
                self.sock.sendto(data, self.remote)

    def _readable(self) -> None:
        recvmsg = self.sock.recvmsg
        while True:
            try:
                data, anc, _flags, addr = recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not data:
                continue
            b0 = data[0]
            if b0 >= 128:
                if 192 <= data[1] <= 223:
                    self.rtcp += 1
                    continue
                self._rtp(data, anc)
            elif b0 < 4:
                self._stun(data, addr)
            elif 20 <= b0 < 64 and self.dtls is not None:
                self.dtls.receive_datagram(data, time.monotonic())
                self._after_dtls()

    def _rtp(self, data: bytes, anc: list[tuple[int, int, bytes]]) -> None:
        seq = data[2] << 8 | data[3]
        ssrc = int.from_bytes(data[8:12], "big")
        t = self.tracks.get(ssrc)
        if t is None:
            t = self.tracks[ssrc] = TrackStats(payload_type=data[1] & 0x7F)
            t.first_seq = t.highest = seq
        else:
            # extend against the highest: a 16-bit step either way
            delta = (seq - t.highest) & 0xFFFF
            if delta < 0x8000:
                t.highest += delta
        t.packets += 1
        decrypted = False
        if self.keep_latency:
            sent = read_stamp(data)
            if sent is None:
                self.no_stamp += 1
                if t.agreed < STABLE_MATCHES:
                    t.attempts += 1
                    if (
                        self.correlator is not None
                        and self._rx is not None
                        and t.attempts < MAX_ATTEMPTS
                    ):
                        decrypted = self._correlate(t, data, seq)
                elif t.sent_ns is not None and t.offset is not None:
                    sent = t.sent_ns[(seq - t.offset) & 0xFFFF] or None
            if sent is not None and anc:
                sec, nsec = _TS.unpack_from(anc[0][2])
                t.latencies_ns.append(sec * 1_000_000_000 + nsec - sent)
        self._n += 1
        if not decrypted and self._rx is not None and self._n % self.verify_every == 0:
            try:
                self._rx.unprotect(data)
                self.verified += 1
                self._last_verified[data[8:12]] = data[2:4]
            except pylibsrtp.Error as exc:
                self._verify_failure(data, exc)

    def _verify_failure(self, data: bytes, exc: pylibsrtp.Error) -> None:
        """Count a packet that does not open, by libsrtp's reason; keep the first one's
        SSRC, sequence number and the last one that opened on that SSRC (a diagnosis)."""
        self.verify_failed += 1
        reason = str(exc)
        self.verify_errors[reason] = self.verify_errors.get(reason, 0) + 1
        if self.first_verify_failure is None:
            last = self._last_verified.get(data[8:12])
            self.first_verify_failure = (
                f"{reason}: ssrc {data[8:12].hex()} seq {int.from_bytes(data[2:4], 'big')}, "
                f"last opened on it {int.from_bytes(last, 'big') if last else None}, "
                f"{len(data)} bytes, {self.verified} opened before"
            )

    def go_passive(self) -> None:
        """Stop per-packet work: the farm's ``sweep()`` drains the socket from now on."""
        if self._loop is not None and not self.passive and not self.closed:
            self._loop.remove_reader(self.sock.fileno())
            self.passive = True

    def sweep(self) -> None:
        """Drain the socket: count SRTP packets, answer STUN; nothing else per packet."""
        recv = self.sock.recv_into
        buf = _SWEEP_BUF  # no bytes, no address per packet: the farm's cost, not the server's
        n = 0
        while True:
            try:
                size = recv(buf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if not size:
                continue
            b0 = buf[0]
            if b0 >= 128:
                if not 192 <= buf[1] <= 223:
                    n += 1
            elif b0 < 4 and self.remote is not None:  # consent checks: from the nominated pair
                self._stun(bytes(buf[:size]), self.remote)
        self.swept += n

    def _correlate(self, t: TrackStats, data: bytes, seq: int) -> bool:
        """Learn the server's sequence offset from one decrypted payload (same process)."""
        assert self._rx is not None and self.correlator is not None
        try:
            plain = self._rx.unprotect(data)
        except pylibsrtp.Error as exc:
            self._verify_failure(data, exc)
            return True
        self.verified += 1
        self._last_verified[data[8:12]] = data[2:4]
        off = 12 + 4 * (plain[0] & 0x0F)
        if plain[0] & 0x10:
            off += 4 + 4 * int.from_bytes(plain[off + 2 : off + 4], "big")
        found = self.correlator.find(plain[off:])
        if found is not None:
            # A server may first replay a buffered keyframe (Janus): only an offset that
            # several live packets agree on counts.
            kind, src_seq = found
            if time.time_ns() - self.correlator.sent[kind][src_seq] > STALE_NS:
                return True  # a replayed (buffered) packet, not live
            offset = (seq - src_seq) & 0xFFFF
            t.agreed = t.agreed + 1 if offset == t.offset else 0
            t.offset = offset
            t.sent_ns = self.correlator.sent[kind]
        return True

    def _stun(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = stun.parse_message(data)
        except ValueError:
            return
        if msg.message_method != stun.Method.BINDING:
            return
        if msg.message_class == stun.Class.REQUEST:
            if "ICE-CONTROLLED" in msg.attributes and not self.controlling:
                self.controlling = True  # both controlled: we take the role
            if "USE-CANDIDATE" in msg.attributes:
                self.nominated = True
            if self.remote is None or self.remote != addr:
                self.remote = (addr[0], addr[1])
            resp = stun.Message(
                stun.Method.BINDING,
                stun.Class.RESPONSE,
                transaction_id=msg.transaction_id,
                attributes={"XOR-MAPPED-ADDRESS": (addr[0], addr[1])},
            )
            resp.add_message_integrity(self.pwd.encode())
            resp.add_fingerprint()
            with contextlib.suppress(OSError):
                self.sock.sendto(bytes(resp), addr)
            self._maybe_start_dtls()
        elif msg.message_class == stun.Class.RESPONSE:
            self.ice_ok = True
            self._maybe_start_dtls()
        elif msg.message_class == stun.Class.ERROR:
            err = msg.attributes.get("ERROR-CODE")
            if err and err[0] == 487:
                self.controlling = not self.controlling

    def _maybe_start_dtls(self) -> None:
        dtls = self.dtls
        if dtls is None or dtls.state != "new" or not self.is_dtls_client:
            return
        if self.ice_ok and (self.controlling or self.nominated):
            dtls.start(time.monotonic())
            self._after_dtls()

    def _after_dtls(self) -> None:
        dtls = self.dtls
        if dtls is None:
            return
        for datagram in dtls.data_to_send(time.monotonic()):
            self._send(datagram)
        while (ev := dtls.next_event()) is not None:
            if isinstance(ev, DtlsConnected):
                policy = pylibsrtp.Policy(
                    key=ev.remote_key,
                    ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                    srtp_profile=_PROFILES[ev.srtp_profile],
                )
                policy.window_size = 1024
                self._rx = pylibsrtp.Session(policy)
                self.srtp_profile = ev.srtp_profile
                self.connected.set()
            elif isinstance(ev, DtlsFailed):
                self.failed = f"DTLS failed: {ev.detail}"
                self.connected.set()
        self._arm_dtls_timer()

    def _arm_dtls_timer(self) -> None:
        dtls, loop = self.dtls, self._loop
        if dtls is None or loop is None or self._dtls_timer is not None:
            return
        if dtls.state == "handshaking":
            self._dtls_timer = loop.call_later(0.2, self._dtls_tick)

    def _dtls_tick(self) -> None:
        self._dtls_timer = None
        dtls = self.dtls
        if dtls is None or self.closed:
            return
        timer = dtls.get_timer()
        now = time.monotonic()
        if timer is not None and now >= timer:
            dtls.handle_timer(now)
        self._after_dtls()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for task in self._tasks:
            task.cancel()
        if self._dtls_timer is not None:
            self._dtls_timer.cancel()
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.sock.fileno())
        self.sock.close()

    # --- figures -----------------------------------------------------------------------

    def summary(self) -> dict[str, int]:
        if self.passive:
            return {
                "packets": self.swept,
                "expected": 0,
                "lost": 0,
                "verified": 0,
                "verify_failed": 0,
                "rtcp": 0,
                "no_stamp": 0,
                "passive": 1,
            }
        packets = sum(t.packets for t in self.tracks.values())
        expected = sum(t.expected() for t in self.tracks.values())
        return {
            "packets": packets,
            "expected": expected,
            "lost": sum(t.lost() for t in self.tracks.values()),
            "verified": self.verified,
            "verify_failed": self.verify_failed,
            "rtcp": self.rtcp,
            "no_stamp": self.no_stamp,
            "passive": 0,
        }

    def latencies(self, payload_type: int | None = None) -> list[int]:
        out: list[int] = []
        for t in self.tracks.values():
            if payload_type is None or t.payload_type == payload_type:
                out.extend(t.latencies_ns)
        return out

    def reset_counters(self) -> None:
        """Start the measured window now (after warm-up)."""
        for t in self.tracks.values():
            t.packets = 0
            t.first_seq = t.highest + 1
            t.latencies_ns = array("q")
            # Learn the correlation offset again from live packets only: right after a
            # viewer joins, Janus replays its buffered keyframe, whose packets would
            # otherwise agree on an offset that is wrong for the live ones after them.
            t.offset, t.agreed, t.attempts = None, 0, 0
        self.verified = self.verify_failed = self.no_stamp = self.rtcp = 0
        self.verify_errors = {}
        self.first_verify_failure = None
        self.swept = 0
