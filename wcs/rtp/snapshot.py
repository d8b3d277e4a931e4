"""The statistics of one :class:`wcs.rtp.session.RtpSession` as the stream's JSON shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wcs import netaddr

if TYPE_CHECKING:
    from wcs.rtp.session import RtpSession


def session_snapshot(s: RtpSession, now: float) -> dict[str, object]:
    src = s.stats.latest
    out: dict[str, object] = {
        "codec": s.codec.name,
        "payloadType": s.codec.payload_type,
        "ssrc": src.ssrc if src else None,
        "packets": src.packets if src else 0,
        "lost": max(0, src.cumulative_lost) if src else 0,
        "jitter_ms": round(src.jitter * 1000 / s.codec.clock_rate, 2) if src else 0.0,
        "bitrate": round(src.current_bitrate(now)) if src else 0,
        "octets": src.octets if src else 0,
        "sources": len(s.stats.sources),
        "malformed": s.malformed,
        "unknownPayloadType": s.unknown_pt,
        "droppedSource": s.guard.dropped,  # from other addresses/SSRCs (source_guard)
        "candidates": len(s.guard.candidates),
        "remote": netaddr.hostport(*s.remote_rtp) if s.remote_rtp else None,
        "latched": s.latched_rtp,
        "rtcpReceived": s.rtcp_received,
        "senderReports": s.sender_reports,
        "sentPackets": s.send_state.packets,
    }
    if s.audio is not None:
        out["silenceSentEarly"] = s.audio.early_slots  # rtp_silence_early_ms
    if s.depacketizer is not None:
        d = s.depacketizer.stats
        out.update(
            frames=d.access_units,
            keyframes=d.keyframes,
            damaged=d.damaged,
            keyframeRequests=dict(s.keyframes.sent),
        )
    for key, buffer in (("jitterBuffer", s.jitter), ("frameReorder", s.frames.reorder)):
        if buffer is not None:
            j = buffer.stats
            out[key] = {"released": j.released, "lost": j.lost, "late": j.late,
                        "duplicate": j.duplicate}  # fmt: skip
    return out
