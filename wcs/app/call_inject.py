"""Streams sent into SIP calls: ``/call/inject_stream[/startup]`` and ``/terminate``.

Any stream of the hub can go into an established call in place of the silence we send: a
browser's (WCS ``publishStream``, WHIP) or another call's (inject A's stream into B and B's
into A and two phones talk through the server). The stream's audio frames go through a
:class:`~wcs.app.live_audio.LiveAudio` (decode, resample, bounded jitter buffer) into the
call's :class:`~wcs.rtp.outgoing_audio.OutgoingAudio`, which encodes them in the call's
negotiated codec on its own SSRC, sequence numbers and clock. Video: when the call negotiated
H.264 and the stream is H.264 in a packetization mode the call's answer takes, its RTP packets
are forwarded re-stamped (no decoding; :class:`~wcs.rtp.video_forward.VideoForwarder`) from
the next keyframe on, asked of the source at the switch and whenever the SIP peer sends PLI,
FIR or a SIP INFO picture_fast_update. A VP8 stream into an H.264 call takes the H.264
access units the stream offers its frame sinks (``TrackInfo.frame_codec``): subscribing
with ``video=True`` starts the publisher's :class:`~wcs.app.vp8_stage.Vp8Stage`, one
transcode shared by every injection, push and recording of the stream; the call's forwarder
packetizes them in the call's mode, and a keyframe asked of the publisher comes back from
the stage as an IDR. A call without H.264 video gets the audio only.

One injection per call; a new one replaces the running one. Each start and stop is an
``InjectStreamEvent`` hook ``{callId, streamName, status: STARTED|STOPPED, info}`` to the
call's appKey (our extension) and the call's ``injectedStream`` in ``/call/find``. The
injection stops, the call going back to silence, on ``/terminate``, when the stream ends
(its publisher left: ``info`` is the stream's reason) and when the call ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from wcs.app.call import FINAL_STATUSES, Call
from wcs.app.calls import CallManager
from wcs.app.errors import RequestError
from wcs.app.live_audio import LiveAudio, decodable
from wcs.app.stream import Stream, Subscription
from wcs.app.streams import StreamHub
from wcs.media.audio import AudioFrame
from wcs.media.dtmf import DtmfError
from wcs.media.h264.nal import AccessUnit

log = logging.getLogger(__name__)

EVENT = "InjectStreamEvent"
STARTED = "STARTED"
STOPPED = "STOPPED"
BY_REST = "Terminated by REST"
CALL_ENDED = "Call ended"


@dataclass(frozen=True, slots=True)
class InjectSettings:
    jitter_ms: int = 60  # audio buffered before it plays (again after an underrun)
    max_buffer_ms: int = 300  # older audio is dropped beyond this


class Injection:
    """One stream going into one call: a frame sink of the stream."""

    def __init__(self, owner: StreamInjections, call: Call, stream: Stream, live: LiveAudio):
        self.owner = owner
        self.call = call
        self.stream = stream
        self.live = live
        self.subscription: Subscription | None = None
        self.video: Subscription | None = None  # the stream's packets, when they go in
        self.frames = False  # its H.264 access units go in instead (a VP8 stream's)
        self.sends_video = False

    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        media = self.call.media
        if self.frames and media is not None:
            media.forward_video(au)

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        self.live.push(frame.codec, frame.payload)

    def on_rtp(self, kind: str, packet: bytes) -> None:
        media = self.call.media
        if kind == "video" and media is not None:
            media.forward_video(packet)

    def on_stream_end(self, reason: str) -> None:  # once per subscription: idempotent
        self.owner.source_ended(self, reason or "Stream ended")


class StreamInjections:
    def __init__(
        self,
        calls: CallManager,
        hub: StreamHub,
        settings: InjectSettings | None = None,
    ) -> None:
        self.calls = calls
        self.hub = hub
        self.settings = settings or InjectSettings()
        self._by_call: dict[str, Injection] = {}
        self.started_total = 0
        self.source_ended_total = 0
        self._underruns_done = 0  # of injections that ended
        self._dropped_ms_done = 0.0
        self._watch = calls.watch(self._call_changed)
        calls.actions.on_picture_update = self.picture_update

    # ------------------------------------------------------------------ REST
    def start(self, call_id: str, stream_name: str) -> None:
        """Inject ``stream_name`` into the call (404 call/stream, 409 not established, no
        audio to take or to send)."""
        call = self.calls.actions.talking(call_id)
        media = call.media
        assert media is not None
        stream = self.hub.get(stream_name)
        if stream is None or not stream.published:
            raise RequestError(404, f"stream {stream_name!r} not found", "streamName")
        track = stream.tracks.get("audio")
        if stream.tracks and (track is None or not decodable(track.codec)):
            what = "no audio" if track is None else f"audio in {track.codec}"
            raise RequestError(409, f"stream {stream_name!r} has {what}: nothing to inject")
        try:
            fmt = media.audio_format()
        except DtmfError as exc:  # no audio we can encode on this call
            raise RequestError(409, str(exc)) from None
        s = self.settings
        live = LiveAudio(stream_name, fmt, jitter_ms=s.jitter_ms, max_ms=s.max_buffer_ms)
        injection = Injection(self, call, stream, live)
        old = self._by_call.pop(call_id, None)
        if old is not None:
            self._end(old, f"Replaced by stream {stream_name}", restore=False)
        self._by_call[call_id] = injection
        video = stream.tracks.get("video")
        if video is not None:
            # A VP8 stream's H.264 access units (no fmtp: packetized in the call's mode), or
            # the packets as the publisher sent them.
            frames = video.frame_codec
            codec, fmtp = (frames, None) if frames is not None else (video.codec, video.fmtp)
            injection.sends_video = media.inject_video(codec, fmtp, stream.request_keyframe)
            injection.frames = frames is not None and injection.sends_video
        # video=True: a VP8 stream's transcoder starts (asking the publisher for a keyframe).
        injection.subscription = stream.subscribe_frames(injection, video=injection.frames)
        media.inject_audio(live)
        if injection.sends_video:
            if not injection.frames:
                injection.video = stream.subscribe_packets(injection)  # from the last keyframe
            stream.request_keyframe()
        call.injected = stream_name
        self.started_total += 1
        how = "not sent" if not injection.sends_video else "as is"
        if injection.frames and video is not None:
            how = f"{video.codec} → H.264"
        log.info("call %s: stream %s injected (video %s)", call_id, stream_name, how)
        self._post(injection, STARTED, f"Injected stream {stream_name}")

    def stop(self, call_id: str) -> None:
        """Back to silence (404: no such call, or nothing injected into it)."""
        if self.calls.get(call_id) is None:
            raise RequestError(404, f"call {call_id!r} not found", "callId")
        injection = self._by_call.pop(call_id, None)
        if injection is None:
            raise RequestError(404, "no stream is injected into this call", "callId")
        self._end(injection, BY_REST)

    # ------------------------------------------------------------------ what happens
    def source_ended(self, injection: Injection, reason: str) -> None:
        """The stream ended (its publisher left, the source call ended): back to silence."""
        if self._by_call.get(injection.call.call_id) is not injection:
            return
        del self._by_call[injection.call.call_id]
        self.source_ended_total += 1
        self._end(injection, f"Stream {injection.stream.name} ended: {reason}")

    def picture_update(self, call_id: str) -> None:
        """The SIP peer asked for a keyframe (INFO picture_fast_update): ask the source."""
        injection = self._by_call.get(call_id)
        if injection is not None and injection.sends_video:
            injection.stream.request_keyframe()

    def _call_changed(self, call: Call) -> None:
        if call.status in FINAL_STATUSES:
            injection = self._by_call.pop(call.call_id, None)
            if injection is not None:
                self._end(injection, CALL_ENDED, restore=False)

    def _end(self, injection: Injection, info: str, restore: bool = True) -> None:
        for sub in (injection.subscription, injection.video):
            if sub is not None:
                sub.cancel()
        call = injection.call
        media = call.media
        if injection.sends_video and media is not None:
            media.stop_video()
        if restore and media is not None:
            media.inject_audio(None)  # never raises: silence needs no encoder
        if call.injected == injection.stream.name:
            call.injected = None
        self._underruns_done += injection.live.underruns
        self._dropped_ms_done += injection.live.dropped_ms
        log.info("call %s: stream %s no longer injected (%s)", call.call_id,
                 injection.stream.name, info)  # fmt: skip
        self._post(injection, STOPPED, info)

    def _post(self, injection: Injection, status: str, info: str) -> None:
        call = injection.call
        body = {
            "callId": call.call_id,
            "streamName": injection.stream.name,
            "status": status,
            "info": info,
        }
        self.calls.hooks.post(call.request.app_key, EVENT, body)

    # ------------------------------------------------------------------ reading
    def of(self, call_id: str) -> Injection | None:
        return self._by_call.get(call_id)

    def __len__(self) -> int:
        return len(self._by_call)

    @property
    def underruns_total(self) -> int:
        return self._underruns_done + sum(i.live.underruns for i in self._by_call.values())

    @property
    def dropped_ms_total(self) -> float:
        return self._dropped_ms_done + sum(i.live.dropped_ms for i in self._by_call.values())

    def close(self) -> None:
        self._watch.cancel()
        for injection in list(self._by_call.values()):
            for sub in (injection.subscription, injection.video):
                if sub is not None:
                    sub.cancel()
        self._by_call.clear()


__all__ = ["EVENT", "InjectSettings", "Injection", "StreamInjections"]
