"""Medians, ranges and the RESULTS.md section of ``bench.saturation`` (issue 17)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

BEGIN = "<!-- issue-17 saturation: begin (written by python3 -m bench.saturation) -->"
END = "<!-- issue-17 saturation: end -->"
TITLE = "## Hot path and saturation (issue 17)"


def stats(values: list[Any]) -> dict[str, Any] | None:
    """Median, min, max and count of the values that are not None (None when none are)."""
    xs = [v for v in values if v is not None]
    if not xs:
        return None
    med = statistics.median(xs)
    return {"median": round(med, 3), "min": round(min(xs), 3), "max": round(max(xs), 3),
            "n": len(xs)}  # fmt: skip


def _fmt(s: dict[str, Any] | None, unit: str = "") -> str:
    """``median [min-max]`` (the range only when there are several runs)."""
    if s is None:
        return "-"
    med = s["median"]
    text = f"{med:g}{unit}"
    if s["n"] > 1:
        text += f" [{s['min']:g}-{s['max']:g}]"
    return text


def _viewers(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for w in sorted({r["workers"] for r in runs}):
        rs = [r for r in runs if r["workers"] == w]
        at = [r["at"] for r in rs if r.get("at")]
        pts = [p for r in rs for p in r["points"]]
        out[str(w)] = {
            "runs": len(rs),
            "viewers": stats([r["viewers"] for r in rs]),
            "viewers_interpolated_at_budget": stats(
                [r.get("viewers_interpolated_at_budget") for r in rs]
            ),
            "stopped_by": [r["stopped_by"] for r in rs],
            "cpu_pct_at": stats([p["cpu_pct"] for p in at]),
            "loss_pct_at": stats([p["loss_pct"] for p in at]),
            "cpu_us_per_packet_at": stats([p.get("cpu_us_per_packet") for p in at]),
            "rss_per_viewer_kb_at": stats([p["rss_per_viewer_kb"] for p in at]),
            "latency_p99_ms_at": stats([p.get("latency_p99_ms") for p in at]),
            "server_cpus_busy_pct_at": stats([p.get("server_cpus_busy_pct") for p in at]),
            "server_cpus_softirq_pct_at": stats([p.get("server_cpus_softirq_pct") for p in at]),
            "viewer_farm_cpu_pct_max": max((p["viewer_farm_cpu_pct"] for p in pts), default=None),
            "steal_pct_max": max((p["steal_pct"] for p in pts), default=None),
            "machine_busy_pct_at": stats([p["machine_busy_pct"] for p in at]),
        }
    return out


def _labels(runs: list[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for r in sorted(runs, key=lambda r: (r["kind"] == "janus", r["workers"])):
        if r["label"] not in seen:
            seen.append(r["label"])
    return seen


def _point(run: dict[str, Any], n: int) -> dict[str, Any] | None:
    return next((p for p in run["points"] if p["viewers"] == n), None)


def _compare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    labels = _labels(runs)
    counts = sorted({p["viewers"] for r in runs for p in r["points"]})
    per: dict[str, Any] = {}
    idle: dict[str, Any] = {}
    idle_busy: dict[str, Any] = {}
    srtp: dict[str, list[str]] = {}
    for lab in labels:
        rs = [r for r in runs if r["label"] == lab]
        idle[lab] = stats([r["baseline"].get("cpu_pct") for r in rs])
        idle_busy[lab] = stats([r["baseline"].get("server_cpus_busy_pct") for r in rs])
        srtp[lab] = sorted({k for r in rs for p in r["points"] for k in p["srtp_profiles"]})
        per[lab] = {}
        for n in counts:
            ps = [p for r in rs if (p := _point(r, n)) is not None]
            per[lab][str(n)] = {
                key: stats([p.get(key) for p in ps])
                for key in (
                    "cpu_us_per_packet",
                    "cpu_pct",
                    "loss_pct",
                    "latency_p50_ms",
                    "latency_p99_ms",
                    "video_latency_p50_ms",
                    "video_latency_p99_ms",
                    "viewer_farm_cpu_pct",
                    "machine_busy_pct",
                    "server_cpus_busy_pct",
                )
            }
    ratios: dict[str, Any] = {}
    janus = [r for r in runs if r["kind"] == "janus"]
    for lab in labels:
        if lab == "Janus" or not janus:
            continue
        ratios[lab] = {}
        for n in counts:
            w = per[lab][str(n)]["cpu_us_per_packet"]
            j = per["Janus"][str(n)]["cpu_us_per_packet"]
            if not w or not j or not j["median"]:
                continue
            paired = []  # the same repeat: whatever else ran then hit both alike
            for r in (r for r in runs if r["label"] == lab):
                jr = next((x for x in janus if x["repeat"] == r["repeat"]), None)
                pw, pj = _point(r, n), _point(jr, n) if jr else None
                if pw and pj and pw.get("cpu_us_per_packet") and pj.get("cpu_us_per_packet"):
                    paired.append(pw["cpu_us_per_packet"] / pj["cpu_us_per_packet"])
            ratios[lab][str(n)] = {
                "ratio_of_medians": round(w["median"] / j["median"], 3),
                "per_repeat": stats([round(x, 3) for x in paired]),
            }
    pts = [p for r in runs for p in r["points"]]
    return {"labels": labels, "counts": counts, "per": per, "idle_cpu_pct": idle,
            "idle_cpus_busy_pct": idle_busy,
            "ratio_to_janus": ratios, "srtp_negotiated": srtp,
            "steal_pct_max": max((p.get("steal_pct", 0) for p in pts), default=None),
            "machine_busy_pct": stats([p.get("machine_busy_pct") for p in pts])}  # fmt: skip


def summary(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"stream": res.get("stream"), "pinning": res.get("pinning")}
    if res.get("viewers"):
        out["viewers"] = _viewers(res["viewers"])
    if res.get("compare"):
        out["compare"] = _compare(res["compare"])
    return out


def _row(cols: list[Any]) -> str:
    return "| " + " | ".join("" if c is None else str(c) for c in cols) + " |"


def markdown(res: dict[str, Any], argv: list[str]) -> str:
    s = summary(res)
    m = res["machine"]
    st = res["stream"]
    opts = res.get("options", {})
    L = [BEGIN, "", TITLE, ""]
    L += [
        f"Run: {m['date']}, `{' '.join(argv)}`" + (" (quick: tiny N)" if res.get("quick") else ""),
        "",
        f"Machine: {m['nproc']} CPUs, Python {m['python']}, {m['janus']}, kernel {m['kernel']}; "
        f"pinning: {res['pinning']}"
        + (
            f"; loopback receive work moved to the farm CPUs (RPS mask {res['loopback_rps']})."
            if res.get("loopback_rps")
            else "."
        ),
        "",
        f"Stream (bench/hd_trace.py, the same bytes to both servers): H.264 constrained "
        f"baseline 1280x720 30 fps, libx264 at 1.5 Mbit/s, {st['video_pps']} packets/s "
        f"({st['video_kbps']} kbit/s with RTP headers), + PCMU {st['audio_pps']} packets/s; "
        f"{st['total_pps']} packets/s in all, {st['loop_s']} s loop. Viewers: bench/lightrtc.py "
        f"(ICE, DTLS, SRTP, no decoding), offering only {', '.join(res['srtp_offered'])}.",
        "",
        "Figures: median [min-max] over the repeats. CPU is the server's process tree "
        "(main process + media workers, /proc); per forwarded packet, the stream-only "
        "baseline is subtracted. Latency: send stamp → kernel arrival at the viewer.",
        "",
    ]
    v = s.get("viewers")
    if v:
        L += [
            f"### (a) Viewers at one core of the 1.5 Mbit/s stream (saturation, budget "
            f"{res['budget_pct']:g} % of a core, loss ≤ 0.1 %, no failed viewer)",
            "",
            f"Steps: from {opts.get('start')} viewers, +{opts.get('step')} per step, "
            f"{opts.get('window')} s windows after {opts.get('warmup')} s settling; the "
            'settings\' order alternates between repeats. "Server CPUs busy": the pinned '
            "CPUs as a whole (/proc/stat, tick-sampled: approximate under light, bursty "
            "load); its softirq part is mostly the kernel delivering each sent datagram into "
            "the viewer's loopback socket, which runs inside the server's sendto (so it is in "
            "the server's CPU time, Janus's alike).",
            "",
        ]
        cols = [
            "webrtc_workers",
            "viewers within budget (measured)",
            "N at exactly the budget (interpolated)",
            "CPU % there",
            "loss % there",
            "µs/packet there",
            "p99 ms there",
            "server CPUs busy % (softirq %) there",
            "stopped by",
            "machine busy % there",
            "farm CPU % (max)",
            "steal % (max)",
        ]
        L += [_row(cols), _row(["---"] * len(cols))]
        for w, f in v.items():
            L.append(
                _row(
                    [
                        w,
                        f"**{_fmt(f['viewers'])}**",
                        _fmt(f["viewers_interpolated_at_budget"]),
                        _fmt(f["cpu_pct_at"]),
                        _fmt(f["loss_pct_at"]),
                        _fmt(f["cpu_us_per_packet_at"]),
                        _fmt(f["latency_p99_ms_at"]),
                        f"{_fmt(f['server_cpus_busy_pct_at'])} "
                        f"({_fmt(f['server_cpus_softirq_pct_at'])})",
                        "; ".join(f["stopped_by"]),
                        _fmt(f["machine_busy_pct_at"]),
                        f["viewer_farm_cpu_pct_max"],
                        f["steal_pct_max"],
                    ]
                )
            )
        L += ["", "### (d) Memory per viewer at the largest N within budget", ""]
        L += [_row(["webrtc_workers", "RSS delta / N (KB, main + workers)"]), _row(["---"] * 2)]
        L += [_row([w, f"**{_fmt(f['rss_per_viewer_kb_at'])}**"]) for w, f in v.items()]
        L.append("")
    c = s.get("compare")
    if c:
        L += _compare_md(c)
    L += [END]
    return "\n".join(L) + "\n"


def _compare_md(c: dict[str, Any]) -> list[str]:
    labels = c["labels"]
    wcs = [lab for lab in labels if lab != "Janus"]
    L = ["### (b) CPU per forwarded packet, wcs vs Janus, same stream, suite and client", ""]
    cols = ["N", *[f"{lab} µs/packet" for lab in labels]]
    cols += [f"{lab} / Janus" for lab in wcs if lab in c["ratio_to_janus"]]
    L += [_row(cols), _row(["---"] * len(cols))]
    for n in c["counts"]:
        row: list[Any] = [n]
        row += [_fmt(c["per"][lab][str(n)]["cpu_us_per_packet"]) for lab in labels]
        for lab in wcs:
            if lab not in c["ratio_to_janus"]:
                continue
            r = c["ratio_to_janus"][lab].get(str(n))
            row.append(
                f"**{r['ratio_of_medians']}** (per repeat {_fmt(r['per_repeat'])})" if r else "-"
            )
        L.append(_row(row))
    L += [
        "",
        "Ratio: median wcs / median Janus; per repeat: each repeat's wcs run over the Janus "
        f"run of the same repeat. Machine busy (both CPUs) {_fmt(c['machine_busy_pct'])} %, "
        f'steal at most {c["steal_pct_max"]} %. In the latency table, "its CPUs busy" well '
        "above the server's own CPU means something else ran on the server's CPUs then.",
        "",
        "### (b) Added latency at equal load (p50 / p99 ms, all packets; video p99)",
        "",
    ]
    cols = ["N", *labels]
    L += [_row(cols), _row(["---"] * len(cols))]
    for n in c["counts"]:
        row = [n]
        for lab in labels:
            f = c["per"][lab][str(n)]
            row.append(
                f"{_fmt(f['latency_p50_ms'])} / {_fmt(f['latency_p99_ms'])}; video p99 "
                f"{_fmt(f['video_latency_p99_ms'])}; loss {_fmt(f['loss_pct'])} %; server "
                f"{_fmt(f['cpu_pct'])} %, its CPUs busy {_fmt(f['server_cpus_busy_pct'])} %"
            )
        L.append(_row(row))
    L += ["", "### (c) Idle cost: a live stream, no viewers (% of one core)", ""]
    L += [_row(["server", "CPU %", "its CPUs busy %"]), _row(["---"] * 3)]
    L += [
        _row([lab, f"**{_fmt(c['idle_cpu_pct'][lab])}**", _fmt(c["idle_cpus_busy_pct"][lab])])
        for lab in labels
    ]
    L += ["", "SRTP suite negotiated (every viewer, every step): "]
    L[-1] += "; ".join(f"{lab}: {', '.join(p) or '?'}" for lab, p in c["srtp_negotiated"].items())
    L.append("")
    return L


def write_results(text: str, path: Path) -> None:
    """Replace our section of the shared RESULTS.md, keep the rest (bench.run's writer)."""
    from bench.run import write_results as write_section

    write_section(text, path, BEGIN, END)
