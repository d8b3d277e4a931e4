"""Viewer farm: N light WebRTC viewers of one stream, over WHEP (wcs) or Janus's HTTP API.

Each viewer does real ICE, DTLS and SRTP (``bench.lightrtc``); the farm reports packets,
loss and per-packet delay (send stamp → kernel arrival) for a measured window.

    python3 -m bench.viewer_farm --whep http://127.0.0.1:8080/whep/call1 --viewers 50 \
        --seconds 20
prints one JSON object. Used as a library by ``bench.run``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from bench.httpc import request
from bench.lightrtc import LightViewer, SendLog
from wcs.webrtc.certificate import Certificate
from wcs.webrtc.dtls import SRTP_PROFILES

CONNECT_TIMEOUT = 20.0
SWEEP_S = 0.1
PASSIVE_AFTER_S = 1.0  # after connecting (SRTP seen working on the first packets)
VIDEO_PT = 96  # the same on both servers' answers/offers here


@dataclass
class FarmViewer:
    viewer: LightViewer
    close_url: str = ""  # WHEP resource to DELETE
    janus: Any = None  # tests.peers.janus.JanusApi


@dataclass
class Farm:
    certificate: Certificate = field(default_factory=Certificate.generate)
    viewers: list[FarmViewer] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    connect_seconds: list[float] = field(default_factory=list)
    verify_every: int = 50
    keep_latency: bool = True
    correlator: SendLog | None = None
    # Viewers beyond this many only count packets (drained every SWEEP_S by one task):
    # the server's work per packet is the same, the farm's is a plain recv.
    measured: int = 30
    # DTLS use_srtp profiles every viewer offers (one: both servers must use that suite)
    srtp_profiles: tuple[str, ...] = SRTP_PROFILES
    _sweeper: asyncio.Task[None] | None = None
    _stride: int = 1

    def _new(self) -> LightViewer:
        return LightViewer(
            self.certificate,
            verify_every=self.verify_every,
            keep_latency=self.keep_latency,
            correlator=self.correlator,
            srtp_profiles=self.srtp_profiles,
        )

    async def add_whep(self, url: str) -> FarmViewer | None:
        v = self._new()
        t0 = time.monotonic()
        try:
            status, headers, body = await request(
                "POST", url, v.offer().encode(), content_type="application/sdp"
            )
            if status != 201:
                raise RuntimeError(f"WHEP POST {status}: {body[:200]!r}")
            v.set_remote(body.decode())
            v.start()
            await asyncio.wait_for(v.connected.wait(), CONNECT_TIMEOUT)
            if v.failed:
                raise RuntimeError(v.failed)
        except (OSError, RuntimeError, ValueError, TimeoutError) as exc:
            v.close()
            self.failed.append(f"{type(exc).__name__}: {exc}")
            return None
        self.connect_seconds.append(time.monotonic() - t0)
        fv = FarmViewer(
            v, urljoin(url, headers.get("location", "")) if headers.get("location") else ""
        )
        self._added(fv)
        return fv

    async def add_janus(self, url: str, mountpoint: int = 1) -> FarmViewer | None:
        from tests.peers.janus import JanusApi

        v = self._new()
        api = JanusApi(url)
        t0 = time.monotonic()
        try:
            offer = await asyncio.to_thread(api.watch, mountpoint)
            answer = v.answer(offer)
            await asyncio.to_thread(api.start, answer)
            v.start()
            await asyncio.wait_for(v.connected.wait(), CONNECT_TIMEOUT)
            if v.failed:
                raise RuntimeError(v.failed)
        except Exception as exc:  # any failure of one viewer is counted, not fatal
            v.close()
            await asyncio.to_thread(api.destroy)
            self.failed.append(f"{type(exc).__name__}: {exc}")
            return None
        self.connect_seconds.append(time.monotonic() - t0)
        fv = FarmViewer(v, janus=api)
        self._added(fv)
        return fv

    def _added(self, fv: FarmViewer) -> None:
        # Measured viewers are spread over the subscription order: a server sends to its
        # viewers one after the other, so the first ones would see the least delay.
        self.viewers.append(fv)
        if (len(self.viewers) - 1) % self._stride:
            asyncio.get_running_loop().call_later(PASSIVE_AFTER_S, fv.viewer.go_passive)
            if self._sweeper is None:
                self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            for i, fv in enumerate(list(self.viewers)):
                if fv.viewer.passive and not fv.viewer.closed:
                    fv.viewer.sweep()
                if i % 50 == 49:
                    await asyncio.sleep(0)  # let the feeder run between chunks

    async def add_many(self, n: int, add: Any, concurrency: int = 8) -> None:
        self._stride = max(1, -(-(len(self.viewers) + n) // self.measured))
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                await add()

        await asyncio.gather(*(one() for _ in range(n)))
        # Viewers kept measured by an earlier, smaller step go passive too: the sample
        # stays ~``measured`` viewers, spread over the order, however far a ladder climbs.
        for i, fv in enumerate(self.viewers):
            if i % self._stride and not fv.viewer.passive:
                fv.viewer.go_passive()

    def reset(self) -> None:
        for fv in self.viewers:
            fv.viewer.reset_counters()

    def report(self) -> dict[str, Any]:
        totals = {
            "packets": 0,
            "expected": 0,
            "lost": 0,
            "verified": 0,
            "verify_failed": 0,
            "no_stamp": 0,
            "passive": 0,
        }
        lat: list[int] = []
        lat_video: list[int] = []
        profiles: dict[str, int] = {}
        verify_errors: dict[str, int] = {}
        verify_failures: list[str] = []
        for fv in self.viewers:
            for reason, count in fv.viewer.verify_errors.items():
                verify_errors[reason] = verify_errors.get(reason, 0) + count
            if fv.viewer.first_verify_failure is not None:
                verify_failures.append(fv.viewer.first_verify_failure)
            name = fv.viewer.srtp_profile or "none"
            profiles[name] = profiles.get(name, 0) + 1
            s = fv.viewer.summary()
            for k in totals:
                totals[k] += s[k]
            lat.extend(fv.viewer.latencies())
            lat_video.extend(fv.viewer.latencies(VIDEO_PT))
        out: dict[str, Any] = {"viewers": len(self.viewers), "failed": len(self.failed), **totals}
        out["srtp_profiles"] = profiles  # negotiated suite → viewers
        if verify_errors:  # packets that did not open at the viewer, by libsrtp's reason
            out["verify_errors"] = verify_errors
            out["viewers_verify_failed"] = len(verify_failures)
            out["first_verify_failures"] = verify_failures[:5]
        out["loss_pct"] = 100.0 * totals["lost"] / totals["expected"] if totals["expected"] else 0
        out.update(percentiles(lat))
        out.update({f"video_{k}": v for k, v in percentiles(lat_video).items()})
        cs = sorted(self.connect_seconds)
        out["connect_p50_s"] = round(cs[len(cs) // 2], 3) if cs else None
        out["connect_max_s"] = round(cs[-1], 3) if cs else None
        if self.failed:
            out["first_failure"] = self.failed[0]
        return out

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for fv in self.viewers:
            fv.viewer.close()
            if fv.close_url:
                with contextlib.suppress(Exception):
                    await request("DELETE", fv.close_url, timeout=3)
            if fv.janus is not None:
                await asyncio.to_thread(fv.janus.destroy)
        self.viewers.clear()


def percentiles(lat_ns: list[int]) -> dict[str, Any]:
    if not lat_ns:
        return {"latency_samples": 0}
    lat_ns.sort()
    n = len(lat_ns)

    def q(p: float) -> float:
        return round(lat_ns[min(n - 1, int(p * n))] / 1e6, 3)

    return {
        "latency_samples": n,
        "latency_p50_ms": q(0.50),
        "latency_p90_ms": q(0.90),
        "latency_p99_ms": q(0.99),
        "latency_max_ms": round(lat_ns[-1] / 1e6, 3),
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    farm = Farm(verify_every=args.verify_every)
    if args.whep:
        await farm.add_many(args.viewers, lambda: farm.add_whep(args.whep))
    else:
        await farm.add_many(args.viewers, lambda: farm.add_janus(args.janus, args.mountpoint))
    await asyncio.sleep(args.warmup)
    farm.reset()
    await asyncio.sleep(args.seconds)
    out = farm.report()
    await farm.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--whep", help="WHEP endpoint URL, e.g. http://127.0.0.1:8080/whep/s1")
    src.add_argument("--janus", help="Janus HTTP API URL, e.g. http://127.0.0.1:8088/janus")
    ap.add_argument("--mountpoint", type=int, default=1)
    ap.add_argument("--viewers", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--verify-every", type=int, default=50)
    args = ap.parse_args(argv)
    print(json.dumps(asyncio.run(_main(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
