"""Playout benchmark (issue 14): glass-to-glass latency WebRTC vs LL-HLS vs HLS on one
stream, CPU per HLS stream (segmenting) and per RTSP client.

    PYTHONPATH=. python -m bench.bench_playout all --repeats 3 --json /tmp/playout.json

``latency``: a wcs server in a child process publishes a stream with the wall clock burned
into every picture (bench/clock_source.py); three client processes play it at the same
time: aiortc over WHEP (WebRTC), a Python LL-HLS client (blocking reload on the preload
hint, every part) and a Python HLS client (blocking reload per segment, every segment),
both decoding with PyAV. Each picture's latency = the client's wall clock when it has the
decoded picture minus the clock burned into it (same machine: same clock). The WebRTC
figure is after aiortc's jitter buffer; the HLS figures are when the picture is decoded, a
player's own hold-back (PART-HOLD-BACK, HOLD-BACK) would come on top.

``hls-cpu``: the sans-IO segmenter (CMAF muxing of H.264 as received + AAC, parts and
segments) over 60 s of the trace call, the shared G.711 → AAC stage, playlist rendering;
CPU time per second of media.

``rtsp-cpu``: the server child (source: the trace call looped, no encoding) with 0 then N
RTSP players in another process (TCP interleaved, then UDP), its CPU over a window; the
difference per player.

Every figure is run ``--repeats`` times: median and range; the machine's load average and
busy share are recorded with each run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STREAM = "bench"


# ---------------------------------------------------------------------------- server child
async def serve(source: str, hls_always: bool = True) -> None:
    from tests.peers.ports import free_port, free_port_range
    from wcs.config import Settings
    from wcs.server import Server

    media = free_port_range(200)
    settings = Settings(
        bind_ip="127.0.0.1", public_ip="127.0.0.1", http_port=free_port(), ws_port=free_port(),
        hls_port=0, rtsp_port=0, sip_port=free_port(), media_port_from=media,
        media_port_to=media + 199, hls_always=hls_always, rtsp_max_connections=1000,
    )  # fmt: skip
    server = Server(settings)
    await server.start()
    if source == "clock":
        from bench.clock_source import ClockSource

        src: Any = ClockSource(server.streams, STREAM)
    else:
        from tests.integration.trace_publisher import TracePublisher

        src = TracePublisher(server.streams, STREAM)
    src.start()
    ports = {"http": settings.http_port, "hls": server.playout.http.port,
             "rtsp": server.playout.rtsp.port, "pid": os.getpid()}  # fmt: skip
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()  # until the parent closes our stdin
    await src.stop()
    await server.stop()


class Child:
    """A ``python -m bench.bench_playout ARGS`` process; its first stdout line as JSON."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> dict[str, Any]:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bench_playout", *self.args, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        return dict(json.loads(line))

    async def result(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        out = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        await self.proc.wait()
        return dict(json.loads(out.decode().strip().splitlines()[-1]))

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# ---------------------------------------------------------------------------- clients
def summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p95": values[min(len(values) - 1, int(0.95 * len(values)))],
        "min": values[0],
        "max": values[-1],
    }


async def client_webrtc(http_port: int, seconds: float, warmup: float) -> dict[str, Any]:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from bench.clock_source import read_clock
    from bench.httpc import request

    pc = RTCPeerConnection()
    latencies: list[float] = []
    done = asyncio.Event()
    tasks: list[asyncio.Future[None]] = []

    async def consume(track: Any) -> None:
        first: float | None = None
        while not done.is_set():
            frame = await track.recv()
            now = time.time() * 1000
            first = first if first is not None else now
            if now - first < warmup * 1000:
                continue
            latencies.append(now - read_clock(frame.to_ndarray(format="gray")))
            if now - first > (warmup + seconds) * 1000:
                done.set()

    @pc.on("track")
    def on_track(track: Any) -> None:
        if track.kind == "video":
            tasks.append(asyncio.ensure_future(consume(track)))

    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    url = f"http://127.0.0.1:{http_port}/whep/{STREAM}"
    status, _, body = await request("POST", url, pc.localDescription.sdp.encode(),
                                    "application/sdp")  # fmt: skip
    assert status == 201, body
    await pc.setRemoteDescription(RTCSessionDescription(body.decode(), "answer"))
    await asyncio.wait_for(done.wait(), seconds + warmup + 60)
    await pc.close()
    return {"latency_ms": summary(latencies)}


class HlsDecoder:
    """Init segment + fMP4 fragments → decoded pictures (PyAV), clock read from each."""

    def __init__(self, init: bytes) -> None:
        import av

        self.init = init
        with av.open(io.BytesIO(init), format="mp4") as c:
            extradata = c.streams.video[0].codec_context.extradata
        self.dec = av.CodecContext.create("h264", "r")
        self.dec.extradata = extradata

    def decode(self, fragment: bytes) -> list[int]:
        import av

        from bench.clock_source import read_clock

        out = []
        with av.open(io.BytesIO(self.init + fragment), format="mp4") as c:
            for packet in c.demux(c.streams.video[0]):
                if packet.size == 0:
                    continue
                for frame in self.dec.decode(packet):
                    out.append(read_clock(frame.to_ndarray(format="gray")))
        return out


async def client_hls(hls_port: int, seconds: float, warmup: float, ll: bool) -> dict[str, Any]:
    from tests.peers.hls_clients import Connection

    conn = Connection("127.0.0.1", hls_port)
    base = f"/{STREAM}/"
    playlist = f"{base}{STREAM}.m3u8"

    async def get(path: str) -> bytes:
        status, body = await conn.get(path)
        assert status == 200, (path, status)
        return body

    text = (await get(playlist)).decode()
    init_uri = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)[-1]
    decoder = HlsDecoder(await get(base + init_uri))
    latencies: list[float] = []
    t0 = time.time()
    done: set[str] = set()
    hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.(\d+)\.m4s"', text)
    assert hint
    msn, part = int(hint.group(1)), int(hint.group(2))
    # Start at the live edge: the next independent part (LL), the next segment (HLS).
    start_msn = msn + 1 if part else msn
    fetch_from = start_msn
    while time.time() - t0 < warmup + seconds:
        if ll:
            text = (await get(f"{playlist}?_HLS_msn={msn}&_HLS_part={part}")).decode()
            uris = [u for u in re.findall(r'EXT-X-PART:.*URI="(part(\d+)\.\d+\.m4s)"', text)]
            todo = [u for u, m in uris if int(m) >= start_msn and u not in done]
        else:
            text = (await get(f"{playlist}?_HLS_msn={fetch_from}")).decode()
            segs = [(f"seg{m}.m4s", m) for m in re.findall(r"^seg(\d+)\.m4s$", text, re.M)]
            todo = [u for u, m in segs if int(m) >= start_msn and u not in done]
        for uri in todo:
            data = await get(base + uri)
            done.add(uri)
            clocks = decoder.decode(data)
            now = time.time() * 1000
            if now / 1000 - t0 >= warmup:
                latencies += [now - c for c in clocks]
        if not ll:
            seg_numbers = [int(m) for m in re.findall(r"^seg(\d+)\.m4s$", text, re.M)]
            fetch_from = max([fetch_from - 1, *seg_numbers]) + 1
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.(\d+)\.m4s"', text)
        if hint:
            msn, part = int(hint.group(1)), int(hint.group(2))
    conn.close()
    return {"latency_ms": summary(latencies)}


# ---------------------------------------------------------------------------- latency runs
def machine_load() -> dict[str, float]:
    from bench.procstat import machine_busy

    one, five, _ = os.getloadavg()
    busy, _, total = machine_busy()
    return {"loadavg1": one, "loadavg5": five, "busy_jiffies": busy, "total_jiffies": total}


def busy_share(before: dict[str, float], after: dict[str, float]) -> float:
    """The machine's busy share (all CPUs, 1 = every core busy) between two samples."""
    total = after["total_jiffies"] - before["total_jiffies"]
    return (after["busy_jiffies"] - before["busy_jiffies"]) / total if total else 0.0


async def latency_run(seconds: float, warmup: float) -> dict[str, Any]:
    server = Child("serve", "clock")
    ports = await server.start()
    try:
        await asyncio.sleep(3)  # the first segments exist; HLS started with the stream
        clients = {
            "webrtc": Child("client-webrtc", str(ports["http"]), str(seconds), str(warmup)),
            "llhls": Child("client-hls", str(ports["hls"]), str(seconds), str(warmup), "--ll"),
            "hls": Child("client-hls", str(ports["hls"]), str(seconds), str(warmup)),
        }
        load_before = machine_load()
        for c in clients.values():
            await c.start()
        results = {k: await c.result(seconds + warmup + 120) for k, c in clients.items()}
        return {"load_before": load_before, "load_after": machine_load(), **results}
    finally:
        await server.stop()


# ---------------------------------------------------------------------------- HLS CPU
def hls_cpu(media_seconds: float = 60.0) -> dict[str, float]:
    from tests.unit.record.frames import trace_frames
    from wcs.app.aac_stage import AacTranscoder
    from wcs.hls import AudioConfig, HlsSettings, Segmenter, render

    frames = trace_frames()
    span = max(f.pts for f in frames) + 20
    loops = int(media_seconds * 1000 // span) + 1
    timeline = [(f, f.pts + i * span) for i in range(loops) for f in frames]
    # The shared AAC stage (once per stream, whatever the consumers): G.711 → AAC.
    aac = AacTranscoder("PCMU")
    t = time.process_time()
    encoded: list[tuple[Any, float, list[Any]]] = []
    for f, pts in timeline:
        if f.audio is not None:
            encoded.append((f, pts, aac.feed(f.audio.payload, pts)))
        else:
            encoded.append((f, pts, []))
    aac_cpu = time.process_time() - t
    media = timeline[-1][1] / 1000
    track = aac.track
    seg = Segmenter(True, AudioConfig(track.asc, track.sample_rate, track.channels),
                    HlsSettings(), 1)  # fmt: skip
    t = time.process_time()
    for f, pts, aac_frames in encoded:
        if f.au is not None:
            seg.push_video(f.au, pts)
        for a in aac_frames:
            seg.push_audio(a.data, float(a.timestamp_ms))
        while seg.next_event() is not None:
            pass
    mux_cpu = time.process_time() - t
    t = time.process_time()
    renders = 1000
    for _ in range(renders):
        render(seg, 1.7e9)
    render_cpu = time.process_time() - t
    return {
        "media_s": media,
        "mux_pct_core": 100 * mux_cpu / media,
        "aac_pct_core": 100 * aac_cpu / media,
        "render_us": 1e6 * render_cpu / renders,
    }


# ---------------------------------------------------------------------------- RTSP CPU
async def rtsp_players(port: int, n: int, tcp: bool, seconds: float) -> dict[str, Any]:
    """``n`` players of the stream (TCP interleaved or UDP), reading and counting."""
    url = f"rtsp://127.0.0.1:{port}/{STREAM}"
    received = [0] * n
    socks: list[socket.socket] = []

    async def one(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        session = ""
        for cseq, track in enumerate((0, 1), 1):
            if tcp:
                transport = f"RTP/AVP/TCP;unicast;interleaved={2 * track}-{2 * track + 1}"
            else:
                pair = []
                for _ in range(2):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    s.bind(("127.0.0.1", 0))
                    s.setblocking(False)
                    socks.append(s)
                    pair.append(s)
                    asyncio.get_running_loop().add_reader(s, drain, s, i)
                ports = (pair[0].getsockname()[1], pair[1].getsockname()[1])
                transport = f"RTP/AVP;unicast;client_port={ports[0]}-{ports[1]}"
            extra = f"Session: {session}\r\n" if session else ""
            writer.write(f"SETUP {url}/trackID={track} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}"
                         f"Transport: {transport}\r\n\r\n".encode())  # fmt: skip
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            m = re.search(r"Session: ([^;\r]+)", head)
            assert m, head
            session = m.group(1)
        writer.write(f"PLAY {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), end - time.monotonic())
            except TimeoutError:
                break
            received[i] += len(chunk)
        writer.close()

    def drain(s: socket.socket, i: int) -> None:
        try:
            while True:
                received[i] += len(s.recv(65536))
        except (BlockingIOError, OSError):
            pass

    await asyncio.gather(*(one(i) for i in range(n)))
    for s in socks:
        asyncio.get_running_loop().remove_reader(s)
        s.close()
    return {"bytes": received}


async def rtsp_cpu_run(players: int, window: float) -> dict[str, Any]:
    """The server's CPU: idle (the stream alone), with RTSP players, with its HLS output."""
    from bench.procstat import cpu_seconds

    out: dict[str, Any] = {"load_before": machine_load()}
    server = Child("serve", "trace", "--no-hls")
    ports = await server.start()
    pid = int(ports["pid"])
    try:
        await asyncio.sleep(3)
        c0 = cpu_seconds(pid)
        await asyncio.sleep(window)
        out["idle_pct_core"] = 100 * (cpu_seconds(pid) - c0) / window
        for mode in ("tcp", "udp"):
            child = Child("rtsp-players", str(ports["rtsp"]), str(players), mode,
                          str(window + 4))  # fmt: skip
            await child.start()
            await asyncio.sleep(2)  # all set up and playing
            c0 = cpu_seconds(pid)
            await asyncio.sleep(window)
            busy = 100 * (cpu_seconds(pid) - c0) / window
            result = await child.result(window + 60)
            out[mode] = {
                "pct_core": busy,
                "per_player_pct_core": (busy - out["idle_pct_core"]) / players,
                "min_bytes": min(result["bytes"]),
            }
        # The stream's HLS output starts on its first request (then no request: the cost of
        # making it, not of serving it).
        from bench.httpc import request

        status, _, _ = await request(
            "GET", f"http://127.0.0.1:{ports['hls']}/{STREAM}/{STREAM}.m3u8"
        )
        assert status == 200
        await asyncio.sleep(2)
        c0 = cpu_seconds(pid)
        await asyncio.sleep(window)
        out["hls_on_pct_core"] = 100 * (cpu_seconds(pid) - c0) / window
    finally:
        await server.stop()
    out["load_after"] = machine_load()
    return out


# ---------------------------------------------------------------------------- main
def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3g} ({min(values):.3g} to {max(values):.3g})"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}

    async def repeat(name: str, run: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        runs = []
        for i in range(args.repeats):
            runs.append(await run())
            print(f"{name} run {i + 1}:", json.dumps(runs[-1]), file=sys.stderr)
        results[name] = runs

    if args.what in ("latency", "all"):
        await repeat("latency", lambda: latency_run(args.seconds, args.warmup))
    if args.what in ("hls-cpu", "all"):
        await repeat("hls_cpu", lambda: asyncio.to_thread(hls_cpu))
    if args.what in ("rtsp-cpu", "all"):
        await repeat("rtsp_cpu", lambda: rtsp_cpu_run(args.players, args.window))
    return results


def machine_lines(runs: list[dict[str, Any]]) -> list[str]:
    loads = [r["load_before"]["loadavg1"] for r in runs]
    busy = [100 * busy_share(r["load_before"], r["load_after"]) for r in runs]
    return ["", f"Machine during the runs: load average (1 min) {spread(loads)}, "
            f"busy {spread(busy)} % of all CPUs", ""]  # fmt: skip


def table(title: str, rows: list[tuple[str, str]], runs: list[dict[str, Any]]) -> list[str]:
    out = [f"| {title} | median (range) |", "|---|---|"]
    out += [f"| {label} | {spread([r[key] for r in runs])} |" for label, key in rows]
    return [*out, ""]


def report(results: dict[str, Any]) -> str:
    lines = [f"Run {results['started']}", ""]
    if "latency" in results:
        lines += ["| player | latency, median of the runs' medians (range) ms | p95 (range) ms |",
                  "|---|---|---|"]  # fmt: skip
        for kind in ("webrtc", "llhls", "hls"):
            med = [r[kind]["latency_ms"]["median"] for r in results["latency"]]
            p95 = [r[kind]["latency_ms"]["p95"] for r in results["latency"]]
            lines.append(f"| {kind} | {spread(med)} | {spread(p95)} |")
        lines += machine_lines(results["latency"])
    if "hls_cpu" in results:
        rows = results["hls_cpu"]
        lines += table("HLS per stream", [
            ("segmenter (CMAF mux, parts + segments) % of a core", "mux_pct_core"),
            ("shared AAC stage (G.711 → AAC) % of a core", "aac_pct_core"),
            ("playlist render µs", "render_us"),
        ], rows)  # fmt: skip
    if "rtsp_cpu" in results:
        rows = [
            {**r, "hls": r["hls_on_pct_core"] - r["idle_pct_core"],
             "tcp": r["tcp"]["per_player_pct_core"], "udp": r["udp"]["per_player_pct_core"]}
            for r in results["rtsp_cpu"]
        ]  # fmt: skip
        lines += table("server publishing the trace call", [
            ("stream alone, no HLS, no player: % of a core", "idle_pct_core"),
            ("+ its HLS output (AAC stage + segmenter, no request): % of a core", "hls"),
            ("per TCP player % of a core", "tcp"),
            ("per UDP player % of a core", "udp"),
        ], rows)  # fmt: skip
        lines += machine_lines(rows)
    return "\n".join(lines)


def cli() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        asyncio.run(serve(sys.argv[2], "--no-hls" not in sys.argv))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "client-webrtc":
        port, seconds, warmup = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
        print("{}", flush=True)  # started
        print(json.dumps(asyncio.run(client_webrtc(port, seconds, warmup))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "client-hls":
        port, seconds, warmup = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
        print("{}", flush=True)
        print(json.dumps(asyncio.run(client_hls(port, seconds, warmup, "--ll" in sys.argv))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "rtsp-players":
        port, n, mode, secs = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
        print("{}", flush=True)
        print(json.dumps(asyncio.run(rtsp_players(port, n, mode == "tcp", secs))))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("what", choices=["latency", "hls-cpu", "rtsp-cpu", "all"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0, help="latency samples per run")
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--players", type=int, default=20, help="RTSP players")
    ap.add_argument("--window", type=float, default=15.0, help="RTSP CPU window, s")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    results = asyncio.run(main(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(report(results))


if __name__ == "__main__":
    cli()
