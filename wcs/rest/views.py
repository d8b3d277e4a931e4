"""The WCS JSON shapes of the server's objects, in one place (spec §2.3, §2.4, calls,
recordings).

The managers keep typed state; this module renders it for REST answers and for the
``StreamStatusEvent``/``CallStatusEvent`` hooks, which carry the same objects. Field order is
part of the answer (clients and tests compare bodies), so each shape is written out whole.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from wcs.app.stream import StreamStatus

if TYPE_CHECKING:
    from wcs.app.call import Call
    from wcs.app.streams import Stream
    from wcs.record.recorder import Recorder
    from wcs.rtmp.push_job import PushJob

Json = dict[str, Any]


class PeerState(Protocol):
    """What a viewer's peer (in-process or in a media worker) shows."""

    @property
    def senders(self) -> Mapping[str, object]: ...  # the kinds the viewer gets
    def stats(self) -> Mapping[str, object]: ...


class ViewerState(Protocol):
    """What a viewer (a playing browser) shows; ``peer`` is its in-process or remote peer."""

    stream: Stream
    media_session_id: str
    app_key: str
    session_id: str | None
    provider: str
    status: StreamStatus
    info: str | None
    created: float

    @property
    def peer(self) -> PeerState: ...


def stream_json(stream: Stream) -> Json:
    """The WCS Stream object (spec §2.4) plus our per-track receive statistics."""
    stats = stream.stats()
    audio = stream.tracks.get("audio")
    video = stream.tracks.get("video")
    a_stats = stats.get("audio", {})
    v_stats = stats.get("video", {})
    packets = sum(int(s.get("packets", 0)) for s in stats.values())
    lost = sum(int(s.get("lost", 0)) for s in stats.values())
    return {
        "name": stream.name,
        "mediaSessionId": stream.media_session_id,
        "appKey": stream.app_key,
        "sessionId": stream.session_id,
        "nodeId": None,
        "published": True,
        "mediaType": "publish",
        "mediaProvider": stream.provider,
        "status": stream.status.value,
        "info": stream.info,
        "hasAudio": audio is not None,
        "hasVideo": video is not None,
        "audioCodec": audio.codec if audio else None,
        "videoCodec": video.codec if video else None,
        "width": (video.width or 0) if video else 0,
        "height": (video.height or 0) if video else 0,
        "bitrate": round(float(v_stats.get("bitrate", 0.0)) / 1000),
        "audioBitrate": round(float(a_stats.get("bitrate", 0.0)) / 1000),
        "packetsReceived": packets,
        "packetsLost": lost,
        "mediaStats": stats,
        "record": False,
        "createDate": int(stream.created * 1000),
        "callId": stream.call_id,
        "custom": {},
        "subscribers": stream.subscribers,
    }


def viewer_json(viewer: ViewerState) -> Json:
    """A WCS Stream object for a player: ``published: false``, PLAYING."""
    video = viewer.stream.tracks.get("video")
    senders = viewer.peer.senders
    return {
        "name": viewer.stream.name,
        "mediaSessionId": viewer.media_session_id,
        "appKey": viewer.app_key,
        "sessionId": viewer.session_id,
        "nodeId": None,
        "published": False,
        "mediaType": "play",
        "mediaProvider": viewer.provider,
        "status": viewer.status.value,
        "info": viewer.info,
        "hasAudio": "audio" in senders,
        "hasVideo": "video" in senders,
        "width": (video.width or 0) if video else 0,
        "height": (video.height or 0) if video else 0,
        "record": False,
        "createDate": int(viewer.created * 1000),
        "custom": {},
        "webrtc": viewer.peer.stats(),
    }


def refused_viewer_json(
    name: str,
    media_session_id: str,
    info: str,
    *,
    provider: str,
    app_key: str,
    session_id: str | None,
) -> Json:
    """A FAILED play that never had a viewer, shaped like :func:`viewer_json`."""
    return {
        "name": name,
        "mediaSessionId": media_session_id,
        "appKey": app_key,
        "sessionId": session_id,
        "nodeId": None,
        "published": False,
        "mediaType": "play",
        "mediaProvider": provider,
        "status": StreamStatus.FAILED.value,
        "info": info,
        "hasAudio": False,
        "hasVideo": False,
        "width": 0,
        "height": 0,
        "record": False,
        "createDate": int(time.time() * 1000),
        "custom": {},
        "webrtc": {},
    }


def push_json(job: PushJob) -> Json:
    """The WCS Transponder object (spec §2.3) plus our status fields."""
    return {
        "mediaSessionId": job.media_session_id,
        "streamName": job.stream_name,
        "sourceStreamName": job.source,
        "rtmpUrl": job.request.rtmp_url,
        "rtmpTransponderFullUrl": job.request.full_url,
        "width": job.width,
        "height": job.height,
        "muted": job.muted,
        "soundEnabled": job.sound_enabled,
        "options": job.request.options,
        "status": job.status.value,
        "info": job.info,
        "callId": job.request.call_id,
        "reconnects": job.reconnects,
        "mediaStats": job.stats(),
        "createDate": int(job.created * 1000),
    }


def push_event_json(job: PushJob) -> Json:
    """The StreamStatusEvent hook body for a push."""
    body = push_json(job)
    body.update(
        name=job.stream_name,
        appKey=job.app_key,
        published=True,
        mediaProvider="RTMP",
        hasVideo=job.width > 0,
    )
    return body


def recorder_json(rec: Recorder) -> Json:
    """A running recording, as ``/recorder/find_all`` lists it."""
    return {
        "fileName": rec.file_name,
        "mediaSessionId": rec.media_session_id,
        "streamName": rec.stream.name,
    }


def call_json(call: Call) -> Json:
    """The WCS Call object. The SIP password is never part of it."""
    r = call.request
    return {
        "callId": r.call_id,
        "incoming": r.incoming,
        "status": call.status.value,
        "sipStatus": call.sip_status,
        "info": call.info,
        "caller": r.caller if r.incoming else r.account.login,
        "callee": r.callee,
        "streamName": r.to_stream,
        "rtmpUrl": r.rtmp_url,
        "rtmpStream": r.rtmp_stream,
        "rtmpStreamStatus": call.rtmp_status() if call.rtmp_status else None,
        "hasAudio": r.has_audio,
        "hasVideo": r.has_video,
        "appKey": r.app_key,
        "visibleName": r.visible_name or (r.caller if r.incoming else r.account.login),
        "custom": r.custom,
        # Our extensions: how the SIP leg is protected (never a key).
        "sipTransport": r.account.transport.upper(),
        "srtpProfile": getattr(call.media, "srtp_profile", None),
        "nodeId": None,
        "sessionId": None,
        "parentCallId": None,
        "sdp": None,
        "inviteParameters": None,
        "mediaProvider": None,
        "sipMessageRaw": None,
        "isMsrp": False,
        "target": None,
        "holdForTransfer": False,
        # our extensions (issue 19)
        "dtmf": call.dtmf.to_json(),
        "dtmfError": call.dtmf_error,
        "transfer": call.transfer,
        # our extension (issue 12): how an incoming call is answered; None when outgoing
        "answerMode": r.answer_mode,
        "injectedStream": call.injected,  # our extension: /call/inject_stream
    }
