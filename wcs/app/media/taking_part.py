"""What we send into a call besides silence (the core's half of taking part in a call).

:class:`TakingPart` is mixed into :class:`~wcs.app.media.core.CallMediaCore`: RFC 4733 keys,
a sound (a clip instead of silence) and an injected stream (``/call/inject_stream``): its
audio as a live PCM source of the call's :class:`~wcs.rtp.outgoing_audio.OutgoingAudio`,
its H.264 forwarded onto the call's video by a :class:`~wcs.rtp.video_forward.VideoForwarder`
when the call negotiated H.264 (repacketized for a mode 0 answer), or the H.264 access units
of a transcoded stream packetized there.
"""

from __future__ import annotations

from collections.abc import Callable

from wcs.media.dtmf import DtmfError
from wcs.media.h264.nal import AccessUnit
from wcs.media.sound import SoundClip
from wcs.rtp.outgoing_audio import AudioFormat, PcmSource
from wcs.rtp.session import RtpSession
from wcs.rtp.video_forward import VideoForwarder
from wcs.sdp.fmtp import parse_fmtp


def single_nal_needed(call_params: dict[str, str], source_fmtp: str | None) -> bool:
    """Whether a source's H.264 packets must be repacketized for the call's answer: a mode 1
    source (FU-A, STAP-A: what browsers send; assumed when unknown) into a mode 0 call."""
    source = "1" if source_fmtp is None else parse_fmtp(source_fmtp).get("packetization-mode")
    return source == "1" and call_params.get("packetization-mode", "0") == "0"


class TakingPart:
    sessions: dict[str, RtpSession]

    def _audio(self) -> RtpSession:
        session = self.sessions.get("audio")
        if session is None or session.audio is None:
            raise DtmfError("the call has no audio we can send on")
        return session

    def send_dtmf(self, digits: str, tone_ms: int | None = None) -> None:
        """Queue keys as RFC 4733 events (DtmfError: bad keys, or no telephone-event)."""
        audio = self._audio().audio
        assert audio is not None
        audio.send_dtmf(digits, tone_ms)

    def play_sound(self, clip: SoundClip, loop: bool) -> None:
        audio = self._audio().audio
        assert audio is not None
        audio.play(clip, loop)

    def stop_sound(self) -> bool:
        session = self.sessions.get("audio")
        return session is not None and session.audio is not None and session.audio.stop_sound()

    @property
    def sound(self) -> str | None:
        session = self.sessions.get("audio")
        return session.audio.sound if session is not None and session.audio is not None else None

    # ------------------------------------------------------------------ injected stream
    def audio_format(self) -> AudioFormat:
        """What our audio encoder sends and takes (DtmfError: no audio we can send on)."""
        audio = self._audio().audio
        assert audio is not None
        return audio.format

    def inject_audio(self, source: PcmSource | None) -> PcmSource | None:
        """A live source in place of silence (None: silence again); the one it replaced."""
        session = self.sessions.get("audio")
        if session is None or session.audio is None:
            if source is None:
                return None
            self._audio()  # raises
        assert session is not None and session.audio is not None
        return session.audio.inject(source)

    def inject_video(
        self, source_codec: str, source_fmtp: str | None, on_keyframe_wanted: Callable[[], None]
    ) -> bool:
        """Forward a source's video from its next keyframe on; False when the call has no
        H.264 video or the source is not H.264 (the call then gets the audio only). Access
        units (a transcoded stream's frames): ``source_fmtp`` None, packetized in the call's
        mode."""
        session = self.sessions.get("video")
        codec = session.media.send_codec if session is not None else None
        if (
            session is None
            or codec is None
            or codec.name.upper() != "H264"
            or source_codec.upper() != "H264"
        ):
            return False
        single = single_nal_needed(codec.parameters, source_fmtp)
        session.video_out = VideoForwarder(
            session.send_state, codec.payload_type, on_keyframe_wanted, single_nal=single
        )
        return True

    def stop_video(self) -> None:
        session = self.sessions.get("video")
        if session is not None:
            session.video_out = None

    def forward_video(self, data: bytes | AccessUnit) -> bool:
        session = self.sessions.get("video")
        return session is not None and session.forward_video(data)
