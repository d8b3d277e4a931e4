"""The stream tracks a call's negotiated m-lines describe (codec, and H.264 picture size)."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from wcs import sdp
from wcs.app.streams import TrackInfo
from wcs.media.h264 import nal_type, parse_sprop_parameter_sets, parse_sps
from wcs.media.h264.nal import NAL_PPS, NAL_SPS


def negotiated_tracks(
    negotiated: Iterable[sdp.NegotiatedMedia], live: Collection[str]
) -> dict[str, TrackInfo]:
    """One track per accepted m-line whose kind has a running session (``live``)."""
    tracks: dict[str, TrackInfo] = {}
    for m in negotiated:
        c = m.receive_codec
        if m.rejected or c is None or m.kind not in live:
            continue
        track = TrackInfo(m.kind, c.name, c.clock_rate, c.channels or 1, c.fmtp, c.payload_type)
        if m.kind == "video":
            _parameter_sets(track, c.parameters.get("sprop-parameter-sets") or "")
        tracks[m.kind] = track
    return tracks


def _parameter_sets(track: TrackInfo, sprop: str) -> None:
    """SPS/PPS from the SDP's sprop-parameter-sets (RFC 6184 8.1): viewers start without
    waiting for in-band ones, and the SPS gives the picture size."""
    for item in sprop.split(","):
        try:
            nals = parse_sprop_parameter_sets(item)
        except ValueError:
            continue
        for nal in nals:
            if not nal:
                continue
            if nal_type(nal) == NAL_SPS:
                track.sps = nal
            elif nal_type(nal) == NAL_PPS:
                track.pps = nal
    if track.sps is not None:
        try:
            info = parse_sps(track.sps)
            track.width, track.height = info.width, info.height
        except ValueError:
            pass
