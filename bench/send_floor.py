"""The floor under "CPU per forwarded packet": what the kernel and Python cost by themselves.

The saturation runs (bench/saturation.py) measure wcs and Janus forwarding the 1.5 Mbit/s
stream (bench.hd_trace) to N viewers on loopback. This measures, in the same setting
(sender on CPU 0, receivers in another process on CPU 1, the same packet sizes and pacing,
the viewers' sockets read like the viewer farm reads them), senders that do nothing else:

* ``c-send``: C, one connected UDP socket per viewer, one ``send()`` per datagram: the
  kernel's own cost per datagram (UDP send + loopback delivery into the viewer's socket),
  the floor for any server with a socket per viewer (wcs, Janus);
* ``c-mmsg``: C, one socket for all viewers, one ``sendmmsg()`` per source packet: the
  floor of a single-port server (ICE on one port);
* ``py-send``: Python, ``socket.send`` per datagram, nothing else;
* ``py-seal``: Python, per datagram what wcs's hot path does at the least: copy the packet
  into the viewer's buffer, write its header, AES-128-GCM in place through libsrtp
  (``wcs.rtp.srtp_seal``), ``send`` — the "Python limit" of issue 17;
* ``py-seal-mmsg``: as ``py-seal`` but one ``sendmmsg()`` (through cffi) per source packet
  on one socket: what a single-port wcs could reach;
* ``py-peer``: wcs's own per-viewer path, ``ViewerPeer.send_rtp`` (rewrite, seal, send) of N
  real peers keyed as after DTLS, called in a plain loop: the server's code per viewer
  packet without the server around it (event loop, receive path, timers, RTCP).

CPU per datagram = (sender CPU with N viewers - the same sender with none, i.e. its pacing
alone) / datagrams sent, in the sender's own process. Repeats alternate the order.

    python3 -m bench.send_floor [--viewers 10,20,40,80,250] [--repeats 3] [--window 6]

writes its section of bench/RESULTS.md (``--no-write``: only prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SENDER_CPU = 0
RECEIVER_CPU = 1
MEASURED_READERS = 30  # like bench.viewer_farm: these read per packet, the rest are swept
SWEEP_S = 0.1
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TAG = 16  # the AES-GCM tag every sealed datagram carries
VARIANTS = ("c-send", "c-mmsg", "py-send", "py-seal", "py-seal-mmsg", "py-peer")
HERE = Path(__file__).resolve().parent


def schedule() -> tuple[int, list[tuple[int, int]]]:
    """(loop ns, [(offset ns, plain RTP size)]) of the HD trace."""
    from bench.hd_trace import load_hd_trace

    trace = load_hd_trace()
    rows = [(int(p.offset * 1e9), 12 + len(p.payload)) for p in trace.packets]
    return int(trace.duration * 1e9), rows


# --- receiver (a process of its own, on RECEIVER_CPU) ---------------------------------


def receiver(n: int) -> None:
    os.sched_setaffinity(0, {RECEIVER_CPU})
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        # as the viewer farm's sockets: the kernel stamps each arrival, in the sender's
        # syscall on loopback
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
    got = [0]

    def drain(s: socket.socket) -> None:
        while True:
            try:
                s.recvmsg(2048, 64)
            except BlockingIOError:
                return
            got[0] += 1

    for s in socks[:MEASURED_READERS]:
        loop.add_reader(s.fileno(), drain, s)

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            for s in socks[MEASURED_READERS:]:
                drain(s)

    async def until_stdin_closes() -> None:
        task = asyncio.ensure_future(sweep())
        await loop.run_in_executor(None, sys.stdin.read)
        task.cancel()
        for s in socks:
            drain(s)

    print(json.dumps([s.getsockname()[1] for s in socks]), flush=True)
    loop.run_until_complete(until_stdin_closes())
    print(json.dumps({"received": got[0]}), flush=True)


# --- Python senders (a process of their own, on SENDER_CPU) ----------------------------


def _connected(ports: list[int]) -> list[socket.socket]:
    """A UDP socket per receiver, connected to it (as wcs's viewer sockets are)."""
    socks = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def _sealers(n: int) -> list[Any]:
    import pylibsrtp

    from wcs.rtp.srtp_seal import sealer

    out = []
    for i in range(n):
        key = bytes((i + k) % 256 for k in range(28))  # 16-byte key + 12-byte salt
        policy = pylibsrtp.Policy(
            key=key,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
        )
        session = pylibsrtp.Session(policy)
        s = sealer(session)
        if not s.direct:
            raise SystemExit("pylibsrtp's binding is not the expected one: no direct sealing")
        out.append((s, session))
    return out


def py_sender(mode: str, ports: list[int], warmup: float, window: float) -> dict[str, Any]:
    os.sched_setaffinity(0, {SENDER_CPU})
    loop_ns, rows = schedule()
    n = len(ports)
    plain = [bytes(12) + bytes((i * 7 + 1) % 256 for i in range(size - 12)) for _, size in rows]
    pack_into = struct.Struct("!HII").pack_into
    send_packet: Any
    if mode == "py-send":
        socks = _connected(ports)
        sends = [s.send for s in socks]

        def send_packet(packet: bytes) -> int:
            wire = packet + bytes(TAG)  # the sealed size; built once per source packet
            for send in sends:
                send(wire)
            return n

    elif mode == "py-seal":
        socks = _connected(ports)
        viewers = [
            (sl.buffer, sl.seal, s.send) for (sl, _), s in zip(_sealers(n), socks, strict=True)
        ]
        seq = [0]

        def send_packet(packet: bytes) -> int:
            size = len(packet)
            seq[0] += 1
            for buffer, seal, send in viewers:
                buffer[:size] = packet
                pack_into(buffer, 2, seq[0] & 0xFFFF, seq[0] * 90, 0x1234)
                send(seal(size))
            return n

    elif mode == "py-seal-mmsg":
        send_packet = _mmsg_sender(ports)
    elif mode == "py-peer":
        send_packet = _peer_sender(ports, rows)
    else:
        raise SystemExit(f"unknown mode {mode}")

    start = time.monotonic()
    measure_from = start + warmup
    end = measure_from + window
    cpu0 = 0.0
    measuring = False
    sent = total = 0
    loop = 0
    while True:
        for (offset, _), packet in zip(rows, plain, strict=True):
            due = start + (loop * loop_ns + offset) / 1e9
            if not measuring and due >= measure_from:
                cpu0 = time.process_time()
                measuring = True
            if due >= end:
                return {
                    "cpu": time.process_time() - cpu0,
                    "sent": sent,
                    "total": total,
                    "errors": 0,
                }
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            k = send_packet(packet) if n else 0
            total += k
            if measuring:
                sent += k
        loop += 1


def _peer_sender(ports: list[int], rows: list[tuple[int, int]]) -> Any:
    """wcs's ViewerPeer.send_rtp for each of N peers (keys as after DTLS, no timers run)."""
    from bench.bench_webrtc_send import OFFER  # the micro-benchmark's viewer: same offer
    from bench.hd_trace import load_hd_trace
    from wcs.webrtc.answer import SourceTrack
    from wcs.webrtc.certificate import Certificate
    from wcs.webrtc.dtls import DtlsConnected
    from wcs.webrtc.peer import ViewerPeer
    from wcs.webrtc.transport import PeerSettings

    tracks = [
        SourceTrack("audio", "PCMU", 8000),
        SourceTrack(
            "video", "H264", 90000, {"profile-level-id": "42e01f", "packetization-mode": "1"}
        ),
    ]
    settings = PeerSettings(Certificate.generate(), bind_ip="127.0.0.1")
    loop = asyncio.new_event_loop()
    peers = []
    for i, port in enumerate(ports):
        peer = ViewerPeer(OFFER, tracks, settings)
        loop.run_until_complete(peer.ice.bind())
        peer.ice.select_remote("127.0.0.1", port)
        key = bytes((i + k) % 256 for k in range(28))
        peer._connected(DtlsConnected("SRTP_AEAD_AES_128_GCM", key, key))
        peers.append(peer)
    # The trace's packets in order, each kind with its own sequence/timestamp line.
    kinds = [p.kind for p in load_hd_trace().packets]
    if len(kinds) != len(rows):
        raise SystemExit("trace and schedule differ")
    state = {"audio": [0, 0], "video": [0, 0]}
    sends = [peer.send_rtp for peer in peers]
    index = [0]

    def send_packet(packet: bytes) -> int:
        kind = kinds[index[0] % len(kinds)]
        index[0] += 1
        st = state[kind]
        st[0] += 1
        st[1] += 3000 if kind == "video" else 160
        pt = 96 if kind == "video" else 0
        rtp = struct.pack("!BBHII", 0x80, pt, st[0] & 0xFFFF, st[1] & 0xFFFFFFFF, 1234 + pt)
        rtp += packet[12:]
        for send in sends:
            send(kind, rtp)
        return len(sends)

    send_packet.keep = (loop, peers)  # type: ignore[attr-defined]
    return send_packet


def _mmsg_sender(ports: list[int]) -> Any:
    """One socket, one sendmmsg() per source packet (libc through cffi's ABI mode)."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(
        """
        struct iovec { void *iov_base; size_t iov_len; };
        struct msghdr { void *msg_name; unsigned int msg_namelen; struct iovec *msg_iov;
                        size_t msg_iovlen; void *msg_control; size_t msg_controllen;
                        int msg_flags; };
        struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; };
        int sendmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags);
        """
    )
    libc = ffi.dlopen(None)
    from pylibsrtp._binding import ffi as srtp_ffi

    n = len(ports)
    sealers = _sealers(n)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addrs = ffi.new("char[]", 16 * n)
    iov = ffi.new("struct iovec[]", n)
    msgs = ffi.new("struct mmsghdr[]", n)
    for i, port in enumerate(ports):
        sockaddr = struct.pack("<HH4s8x", socket.AF_INET, socket.htons(port), bytes([127, 0, 0, 1]))
        ffi.memmove(addrs + 16 * i, sockaddr, 16)
        buffer = sealers[i][0].buffer
        address = int(srtp_ffi.cast("uintptr_t", srtp_ffi.from_buffer(buffer)))
        iov[i].iov_base = ffi.cast("void *", address)
        msgs[i].msg_hdr.msg_name = addrs + 16 * i
        msgs[i].msg_hdr.msg_namelen = 16
        msgs[i].msg_hdr.msg_iov = iov + i
        msgs[i].msg_hdr.msg_iovlen = 1
    fd = sock.fileno()
    sendmmsg = libc.sendmmsg
    pack_into = struct.Struct("!HII").pack_into
    viewers = [(sl.buffer, sl.seal, iov[i]) for i, (sl, _) in enumerate(sealers)]
    seq = [0]

    def send_packet(packet: bytes) -> int:
        size = len(packet)
        seq[0] += 1
        for buffer, seal, vec in viewers:
            buffer[:size] = packet
            pack_into(buffer, 2, seq[0] & 0xFFFF, seq[0] * 90, 0x1234)
            vec.iov_len = len(seal(size))
        done = 0
        while done < n:
            r = sendmmsg(fd, msgs + done, n - done, 0)
            if r <= 0:
                raise OSError(ffi.errno, "sendmmsg failed")
            done += r
        return n

    send_packet.keep = (sock, addrs, iov, msgs, sealers)  # type: ignore[attr-defined]
    return send_packet


# --- orchestration ---------------------------------------------------------------------


def _binary(tmp: Path) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise SystemExit("send_floor needs gcc (Debian: build-essential)")
    out = tmp / "send_floor"
    subprocess.run([gcc, "-O2", "-o", str(out), str(HERE / "send_floor.c")], check=True)
    return out


def one_run(
    variant: str, n: int, warmup: float, window: float, binary: Path, sched: Path
) -> dict[str, Any]:
    rx = subprocess.Popen(
        [sys.executable, "-m", "bench.send_floor", "--receiver", str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert rx.stdout is not None and rx.stdin is not None
        ports = json.loads(rx.stdout.readline())
        if variant.startswith("c-"):
            args = [str(binary), variant[2:], str(n), str(sched), str(warmup), str(window)]
            proc = subprocess.run(
                ["taskset", "-c", str(SENDER_CPU), *args, *map(str, ports)],
                capture_output=True,
                text=True,
                check=True,
            )
            out = json.loads(proc.stdout)
            out["cpu"] = out.pop("user") + out.pop("system")
        else:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.send_floor",
                    "--py-sender",
                    variant,
                    "--warmup",
                    str(warmup),
                    "--window",
                    str(window),
                    *map(str, ports),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            out = json.loads(proc.stdout)
        rx.stdin.close()
        out["received_total"] = json.loads(rx.stdout.readline())["received"]
        return out
    finally:
        if rx.poll() is None:
            rx.kill()
        rx.wait()


BEGIN = "<!-- issue-17 send floor: begin (written by python -m bench.send_floor) -->"
END = "<!-- issue-17 send floor: end -->"


def _median_range(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]"


def measure(a: argparse.Namespace) -> dict[str, Any]:
    ns = [int(x) for x in a.viewers.split(",")]
    variants = a.variants.split(",")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        binary = _binary(tmp)
        loop_ns, rows = schedule()
        sched = tmp / "schedule.txt"
        sched.write_text(f"{loop_ns}\n" + "".join(f"{o} {s + TAG}\n" for o, s in rows))
        pps = len(rows) / (loop_ns / 1e9)
        print(
            f"# stream: {pps:.1f} packets/s; "
            f"sender on CPU {SENDER_CPU}, receivers on CPU {RECEIVER_CPU}"
        )
        for r in range(a.repeats):
            order = variants if r % 2 == 0 else variants[::-1]
            for variant in order:
                base = one_run(variant, 0, a.warmup, a.window, binary, sched)
                for n in ns:
                    out = one_run(variant, n, a.warmup, a.window, binary, sched)
                    us = (out["cpu"] - base["cpu"]) / max(out["sent"], 1) * 1e6
                    lost = 1 - out["received_total"] / max(out["total"], 1)
                    runs.append(
                        {
                            "repeat": r + 1,
                            "variant": variant,
                            "viewers": n,
                            "us": us,
                            "lost_pct": lost * 100,
                            "errors": out["errors"],
                            "sent": out["sent"],
                        }
                    )
                    print(
                        f"repeat {r + 1} {variant:13s} N={n:4d}: {us:6.2f} µs/datagram "
                        f"(cpu {out['cpu']:.3f} s, baseline {base['cpu']:.3f} s, "
                        f"sent {out['sent']} in the window, {out['total']} in all, "
                        f"lost {lost * 100:.3f} %, send errors {out['errors']})",
                        flush=True,
                    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "pps": round(pps, 1),
        "viewers": ns,
        "variants": variants,
        "repeats": a.repeats,
        "window": a.window,
        "warmup": a.warmup,
        "runs": runs,
    }


def markdown(res: dict[str, Any]) -> str:
    per: dict[tuple[str, int], list[float]] = {}
    for run in res["runs"]:
        per.setdefault((run["variant"], run["viewers"]), []).append(run["us"])
    lost = max((run["lost_pct"] for run in res["runs"]), default=0.0)
    errors = sum(run["errors"] for run in res["runs"])
    variants = res["variants"]
    lines = [
        BEGIN,
        "",
        "## The floor under CPU per forwarded packet (issue 17)",
        "",
        f"{res['date']}, {res['cpus']} CPUs, Python {res['python']}, command "
        "`python -m bench.send_floor`. Senders that do nothing but fan the 1.5 Mbit/s stream "
        f"(bench.hd_trace, {res['pps']} packets/s, the same sizes + the 16-byte GCM tag, the "
        "same pacing) out to N receivers on loopback: sender on CPU 0, receivers in another "
        "process on CPU 1 read like the viewer farm (the first 30 per packet, the rest swept "
        "every 100 ms, kernel arrival stamps on). µs of the sender's CPU per datagram, its "
        "pacing alone (N = 0) subtracted; "
        f"{res['repeats']} repeats of a {res['window']} s window, order alternating; median "
        f"[min-max]. Largest loss at the receivers {lost:.3f} %, send errors {errors}.",
        "",
        "- `c-send`: C, a connected socket per viewer, `send()` per datagram: the kernel's "
        "own cost (UDP send + loopback delivery into the viewer's socket);",
        "- `c-mmsg`: C, one socket, one `sendmmsg()` per source packet (a single-port server);",
        "- `py-send`: Python `socket.send` per datagram, nothing else;",
        "- `py-seal`: Python, the least wcs's hot path can do per viewer: copy into the "
        "viewer's buffer, write the header, AES-128-GCM in place through libsrtp "
        '(`wcs.rtp.srtp_seal`), `send` — the "Python limit";',
        "- `py-seal-mmsg`: `py-seal` with one `sendmmsg()` (cffi) per source packet.",
        "",
        "| N | " + " | ".join(variants) + " |",
        "| --- | " + " | ".join("---" for _ in variants) + " |",
    ]
    for n in res["viewers"]:
        lines.append(f"| {n} | " + " | ".join(_median_range(per[(v, n)]) for v in variants) + " |")
    lines += ["", END, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--viewers", default="10,20,40,80,250")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--window", type=float, default=6.0)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--json", default="", help="also write the raw results here")
    ap.add_argument("--from-json", default="", help="only rewrite RESULTS.md from raw results")
    ap.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--py-sender", help=argparse.SUPPRESS)
    ap.add_argument("ports", nargs="*", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.receiver is not None:
        receiver(a.receiver)
        return 0
    if a.py_sender:
        print(json.dumps(py_sender(a.py_sender, a.ports, a.warmup, a.window)))
        return 0
    if a.from_json:
        res = json.loads(Path(a.from_json).read_text())
    else:
        if (os.cpu_count() or 0) < 2:
            raise SystemExit("needs 2 CPUs (sender and receivers apart)")
        res = measure(a)
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=1))
    text = markdown(res)
    print(text)
    if not a.no_write:
        from bench.run import write_results

        write_results(text, Path(a.out), BEGIN, END)
        print(f"send_floor: wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
