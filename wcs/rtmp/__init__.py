"""RTMP publishing client: handshake, chunk stream, AMF0, FLV.

Sans-IO core (no sockets, fed bytes):
  ``handshake``   C0/C1 → S0/S1/S2 → C2 (plain, version 3)
  ``chunk``       ChunkEncoder / ChunkDecoder (fmt 0-3, extended timestamps, chunk size)
  ``amf0``        encode/decode
  ``messages``    message types, protocol control messages
  ``connection``  RtmpClientConnection: connect/createStream/publish state machine
  ``events``      its events (PublishStarted, Failed, ...)
  ``url``         rtmp[s]:// URLs and the WCS /push/startup naming (rtmp_ prefix, full URL)
  ``flv``         FLV tag bodies (AVC, AAC, G.711), metadata, monotonic timestamps, interleaver
  ``sps``         picture size from an H.264 SPS
  ``muxer``       PushMuxer: stream frames → ordered FLV tags (keyframe gating, AAC)
  ``backpressure`` what to drop when the socket is slow
  ``aac``, ``g711`` PCM → AAC with PyAV; G.711 → PCM
  ``pipeline``    PushPipeline: a stream's frames (G.711/Opus, H.264) → FLV tags, mute, start
  ``reconnect``   ReconnectPolicy: retries and back-off of a failed push
  ``keyframes``   KeyframePacer: when a push asks its source for a keyframe
Edge (asyncio / threads): ``client.RtmpPublisher`` (the socket), ``worker.PipelineWorker``
(a push's pipeline on its own thread), ``push.PushManager`` (push jobs on the stream hub:
registry, events, direct SIP-as-RTMP), ``push_job.PushJob`` (one job: statuses, reconnect),
``push_attempt.Attempt`` (one connection: the frame sink on the source stream).
"""

from . import flv
from .client import RtmpPublisher, RtmpPublishError
from .errors import RtmpError
from .url import RtmpTarget, parse_full_url

__all__ = ["RtmpError", "RtmpPublishError", "RtmpPublisher", "RtmpTarget", "flv", "parse_full_url"]
