"""Figures (2), (3) and the per-viewer half of (5) for one target.

One stream (the looped trace, sent from this process) into the target, then N light viewers.
CPU of the target's process is sampled over a window with the feed alone (baseline) and
with the viewers; the difference divided by the packets the viewers received is the CPU
time per forwarded packet. Latency is send stamp → kernel arrival at the viewer.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from bench.procstat import Window, rss_bytes
from bench.targets import Target, WcsTarget
from bench.trace_feed import Destination, Feeder, Trace, load_trace
from bench.viewer_farm import Farm

# A 1.5 Mbit/s video stream in ~1200-byte packets is ~156 packets/s; with 50 PCMU
# packets/s that is what one viewer of the target stream costs in packets.
TARGET_STREAM_PPS = 1.5e6 / 8 / 1200 + 50


async def measure(
    target: Target,
    viewers: int,
    seconds: float = 10.0,
    warmup: float = 3.0,
    baseline_seconds: float = 5.0,
    trace: Trace | None = None,
    farm: Farm | None = None,
    pyspy: str | None = None,
) -> dict[str, Any]:
    trace = trace or load_trace()
    feeder = Feeder(trace)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(feeder.run())
    if isinstance(target, WcsTarget):
        await target.start_feed(feeder)
    else:
        feeder.add(Destination(sock, target.audio, target.video, log=target.send_log), 0.0)
    farm = farm or Farm(correlator=target.send_log)
    try:
        await asyncio.sleep(warmup)
        rss0 = rss_bytes(target.pid)
        base = Window(target.pid).start()
        await asyncio.sleep(baseline_seconds)
        base.stop()
        await farm.add_many(viewers, lambda: target.add_viewer(farm))
        await asyncio.sleep(warmup)
        farm.reset()
        spy = None
        if pyspy:  # sample the target's stacks during the window (collapsed format)
            spy = await asyncio.create_subprocess_exec(
                "py-spy",
                "record",
                "--pid",
                str(target.pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                pyspy,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        win = Window(target.pid).start()
        await asyncio.sleep(seconds)
        win.stop()
        if spy is not None:
            await spy.wait()
        rep = farm.report()
        rss1 = rss_bytes(target.pid)
    finally:
        await farm.close()
        task.cancel()
        sock.close()
    pps_in, _ = trace.rate()
    forwarded = rep["packets"]
    base_cpu = base.cpu / base.seconds * win.seconds if base.seconds else 0.0
    out: dict[str, Any] = {
        **target.describe(),
        "viewers": rep["viewers"],
        "viewers_failed": rep["failed"],
        "window_s": round(win.seconds, 2),
        "stream_pps": round(pps_in, 1),
        "forwarded_packets": forwarded,
        "loss_pct": round(rep["loss_pct"], 4),
        "cpu_pct": round(win.cpu_pct, 1),
        "cpu_pct_children": round(100.0 * win.children_cpu / win.seconds, 1) if win.seconds else 0,
        "cpu_pct_feed_only": round(base.cpu_pct, 1),
        "steal_pct": round(win.steal_pct, 1),
        "machine_busy_pct": round(win.machine_busy_pct, 1),
        "rss_mb": round(rss1 / 2**20, 1),
        "rss_per_viewer_kb": round((rss1 - rss0) / 1024 / max(rep["viewers"], 1), 1),
        "feeder_late_max_ms": round(feeder.late_max * 1000, 1),
    }
    if forwarded:
        per_pkt = (win.cpu - base_cpu) / forwarded
        out["cpu_us_per_packet"] = round(per_pkt * 1e6, 2)
        out["cpu_us_per_packet_total"] = round(win.cpu / forwarded * 1e6, 2)
        if per_pkt > 0:
            out["viewers_per_core_this_stream"] = int(1 / (per_pkt * pps_in))
            out["viewers_per_core_1_5mbps"] = int(1 / (per_pkt * TARGET_STREAM_PPS))
    for k in (
        "latency_samples",
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_max_ms",
        "video_latency_samples",
        "video_latency_p50_ms",
        "video_latency_p99_ms",
        "connect_p50_s",
        "connect_max_s",
        "first_failure",
        "verified",
        "verify_failed",
        "passive",
        "srtp_profiles",
    ):
        if k in rep:
            out[k] = rep[k]
    return out
