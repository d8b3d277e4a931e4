"""The issue-17 harness's pure parts: the HD trace, the saturation figure, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.hd_trace import HdParams, build, describe, load_hd_trace
from bench.saturation import saturation_figure
from bench.saturation_report import BEGIN, END, TITLE, markdown, stats, summary, write_results
from bench.trace_feed import TracePacket
from wcs.media.h264.nal import NAL_FU_A, NAL_STAP_A

SMALL = HdParams(width=160, height=96, fps=10, kbps=300, seconds=2, keyint_s=1, mtu=400)


def _fields(p: TracePacket) -> tuple[Any, ...]:
    return (p.offset, p.kind, p.marker, p.seq_delta, p.ts_delta, p.payload)


def test_hd_trace_packetized_in_mode_1_and_cached(tmp_path: Path) -> None:
    built = load_hd_trace(SMALL, cache=tmp_path)
    assert len(list(tmp_path.glob("hd-*.trace"))) == 1
    again = load_hd_trace(SMALL, cache=tmp_path)  # from the file this time
    assert [
        (p.offset, p.kind, p.marker, p.seq_delta, p.ts_delta, p.payload) for p in again.packets
    ] == [(p.offset, p.kind, p.marker, p.seq_delta, p.ts_delta, p.payload) for p in built.packets]
    video = [p for p in built.packets if p.kind == "video"]
    audio = [p for p in built.packets if p.kind == "audio"]
    assert len(audio) == 50 * SMALL.seconds and all(len(p.payload) == 160 for p in audio)
    assert len({p.payload for p in audio}) == len(audio)  # unique: correlation by payload
    assert all(len(p.payload) <= SMALL.mtu for p in video)
    assert any(p.payload[0] & 0x1F == NAL_FU_A for p in video)
    assert any(p.payload[0] & 0x1F == NAL_STAP_A for p in video)  # SPS + PPS (+ SEI)
    frames = sorted({p.ts_delta for p in video})
    assert len(frames) == SMALL.fps * SMALL.seconds
    for ts in frames:  # one marker per frame, on its last packet
        pk = sorted((p for p in video if p.ts_delta == ts), key=lambda p: p.seq_delta)
        assert [p.marker for p in pk] == [False] * (len(pk) - 1) + [True]
    assert sorted(p.seq_delta for p in video) == list(range(len(video)))
    assert built.seq_span == {"video": len(video), "audio": len(audio)}
    assert built.ts_span == {"video": 90000 * SMALL.seconds, "audio": 8000 * SMALL.seconds}
    assert all(0 <= p.offset < built.duration for p in built.packets)
    d = describe(built)
    assert d["video_pps"] == round(len(video) / SMALL.seconds, 1)
    # the same parameters give the same bytes (one x264 thread)
    assert [p.payload for p in build(SMALL).packets if p.kind == "video"] == [
        p.payload for p in video
    ]


def _pt(n: int, cpu: float, loss: float = 0.0, failed: int = 0) -> dict[str, Any]:
    return {"viewers": n, "cpu_pct": cpu, "loss_pct": loss, "failed": failed}


def test_saturation_figure_interpolates_only_across_the_budget() -> None:
    f = saturation_figure([_pt(100, 40), _pt(150, 80), _pt(200, 120)], 100)
    assert f["viewers"] == 150 and f["stopped_by"].startswith("CPU 120")
    assert f["viewers_interpolated_at_budget"] == 175
    f = saturation_figure([_pt(100, 40), _pt(150, 80, loss=0.5)], 100)
    assert f["viewers"] == 100 and f["stopped_by"].startswith("loss")
    assert f["viewers_interpolated_at_budget"] is None
    f = saturation_figure([_pt(100, 40), _pt(150, 60)], 100)
    assert f["viewers"] == 150 and f["stopped_by"] == "step limit"
    farm = {**_pt(150, 60), "viewer_farm_cpu_pct": 95.0}
    f = saturation_figure([_pt(100, 40), farm], 100)
    assert f["viewers"] == 150 and "lower bound" in f["stopped_by"]
    f = saturation_figure([_pt(100, 140)], 100)
    assert f["viewers"] == 0 and f["at"] is None


def test_stats_median_and_range() -> None:
    assert stats([3, None, 1, 2]) == {"median": 2, "min": 1, "max": 3, "n": 3}
    assert stats([None]) is None


def _point(n: int, us: float, p99: float) -> dict[str, Any]:
    return {
        "viewers": n,
        "failed": 0,
        "cpu_us_per_packet": us,
        "cpu_pct": 10.0,
        "loss_pct": 0.0,
        "latency_p50_ms": 0.3,
        "latency_p99_ms": p99,
        "video_latency_p99_ms": p99,
        "rss_per_viewer_kb": 150.0,
        "srtp_profiles": {"SRTP_AEAD_AES_128_GCM": n},
    }


def _result() -> dict[str, Any]:
    compare: list[dict[str, Any]] = []
    for r, (wus, jus) in enumerate([(10.0, 25.0), (12.0, 20.0), (11.0, 30.0)]):
        for kind, label, us, idle in (
            ("wcs", "wcs, webrtc_workers=0", wus, 3.0),
            ("janus", "Janus", jus, 1.0),
        ):
            compare.append(
                {
                    "kind": kind,
                    "workers": 0,
                    "label": label,
                    "repeat": r,
                    "baseline": {"cpu_pct": idle},
                    "points": [_point(10, us, 2.0)],
                }
            )
    at = {**_point(100, 9, 5), "machine_busy_pct": 60.0, "viewer_farm_cpu_pct": 9.0,
          "steal_pct": 0.0}  # fmt: skip
    viewers = [{"workers": 0, "repeat": 0, "points": [at], "stopped_by": "step limit",
                "viewers": 100, "viewers_interpolated_at_budget": None, "at": at}]  # fmt: skip
    return {
        "machine": {"date": "d", "nproc": "2", "python": "3.11", "janus": "Janus 1.1.2",
                    "kernel": "k"},
        "stream": {"video_pps": 177.0, "video_kbps": 1574.5, "audio_pps": 50.0,
                   "total_pps": 227.0, "loop_s": 10.0},
        "pinning": "none", "srtp_offered": ["SRTP_AEAD_AES_128_GCM"], "budget_pct": 100.0,
        "options": {"start": 100, "step": 50, "window": 10.0, "warmup": 3.0},
        "viewers": viewers, "compare": compare,
    }  # fmt: skip


def test_summary_ratio_per_n_and_idle_cost() -> None:
    c = summary(_result())["compare"]
    assert c["labels"] == ["wcs, webrtc_workers=0", "Janus"]
    assert c["per"]["wcs, webrtc_workers=0"]["10"]["cpu_us_per_packet"]["median"] == 11.0
    assert c["per"]["Janus"]["10"]["cpu_us_per_packet"]["median"] == 25.0
    r = c["ratio_to_janus"]["wcs, webrtc_workers=0"]["10"]
    assert r["ratio_of_medians"] == 0.44
    assert r["per_repeat"]["min"] == 0.367 and r["per_repeat"]["max"] == 0.6  # 11/30, 12/20
    assert c["idle_cpu_pct"]["Janus"]["median"] == 1.0
    assert c["srtp_negotiated"] == {
        "wcs, webrtc_workers=0": ["SRTP_AEAD_AES_128_GCM"],
        "Janus": ["SRTP_AEAD_AES_128_GCM"],
    }


def test_markdown_section_replaces_itself(tmp_path: Path) -> None:
    text = markdown(_result(), ["python3", "-m", "bench.saturation"])
    assert text.startswith(BEGIN) and text.rstrip().endswith(END) and TITLE in text
    assert "**0.44**" in text and "SRTP_AEAD_AES_128_GCM" in text
    out = tmp_path / "RESULTS.md"
    out.write_text("# Results\n\nbefore\n")
    write_results(text, out)
    write_results(text.replace("**0.44**", "**0.5**"), out)
    final = out.read_text()
    assert final.count(BEGIN) == 1 and "**0.5**" in final and "**0.44**" not in final
    assert final.startswith("# Results\n\nbefore\n")


def test_idle_cost_summary_report_and_wakeup_counter(tmp_path: Path) -> None:
    import os
    import threading

    from bench import idle_cost

    before = idle_cost.wakeups(os.getpid())
    slept, release = threading.Event(), threading.Event()

    def sleeper() -> None:
        for _ in range(5):
            release.wait(0.01)  # times out: one sleep each
        slept.set()
        release.wait()  # alive while counted: an exited thread's count is gone from /proc

    t = threading.Thread(target=sleeper)
    t.start()
    slept.wait()
    after = idle_cost.wakeups(os.getpid())
    release.set()
    t.join()
    assert after >= before + 5
    label = next(iter(idle_cost.SETTINGS))
    runs = [
        {"label": label, "cpu_pct": c, "wakeups_per_s": w}
        for c, w in ((2.0, 200), (2.4, 210), (1.9, 190))
    ] + [{"label": idle_cost.JANUS, "cpu_pct": c, "wakeups_per_s": 230} for c in (1.0, 1.2)]
    s = idle_cost.summary(runs)
    assert s[label]["cpu_pct"] == 2.0 and s[label]["cpu_range"] == [1.9, 2.4]
    assert s[label]["wakeups_per_s"] == 200
    assert s[idle_cost.JANUS]["cpu_pct"] == 1.1
    res = {
        "machine": {"date": "d", "nproc": "2", "python": "3.11", "uvloop": "0.2"},
        "stream": {"total_pps": 227.0, "total_kbps": 1500.0},
        "pinning": "server on CPU [0]",
        "repeats": 3,
        "window_s": 20.0,
        "warmup_s": 5.0,
        "command": ["python3", "-m", "bench.idle_cost"],
        "summary": s,
    }
    text = idle_cost.markdown(res)
    assert text.startswith(idle_cost.BEGIN) and idle_cost.END in text
    assert f"| {label} | **2.0** [1.9-2.4] | 1.8x | 200 [190-210] |" in text
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nkept\n")
    from bench.run import write_results as write_section

    write_section(text, out, idle_cost.BEGIN, idle_cost.END)
    write_section(text, out, idle_cost.BEGIN, idle_cost.END)  # replaced, not appended
    assert out.read_text().count(idle_cost.BEGIN) == 1 and "kept" in out.read_text()
