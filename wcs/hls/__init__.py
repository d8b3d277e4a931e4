"""HLS and LL-HLS output (RFC 8216bis) of a stream: CMAF fMP4 muxing, the segmenter, the
media playlist, blocking reload decisions and a playlist checker. All sans-IO: the HTTP
edge feeds frames in and serves what :class:`Segmenter` holds."""

from .blocking import (
    BadRequest,
    BlockingRequest,
    NotFound,
    Ready,
    Wait,
    decide,
    parse_query,
    resource_decision,
)
from .fmp4 import AudioConfig, VideoConfig, init_segment, media_fragment
from .model import (
    HlsSettings,
    InitChanged,
    KeyframeWanted,
    PartReady,
    SegmentReady,
    StreamEnded,
)
from .names import Resource, parse_name
from .playlist import render
from .segmenter import Segmenter

__all__ = [
    "AudioConfig",
    "BadRequest",
    "BlockingRequest",
    "HlsSettings",
    "InitChanged",
    "KeyframeWanted",
    "NotFound",
    "PartReady",
    "Ready",
    "Resource",
    "SegmentReady",
    "Segmenter",
    "StreamEnded",
    "VideoConfig",
    "Wait",
    "decide",
    "init_segment",
    "media_fragment",
    "parse_name",
    "parse_query",
    "render",
    "resource_decision",
]
