"""Which container and audio codec a recording gets, from the stream's codecs (WCS rules).

* H.264 (+ G.711 or nothing) → MP4 with AAC (G.711 is transcoded once per recording);
* H.264 + Opus → Matroska with the Opus passed through (WCS records it to WebM or MKV;
  WebM may not carry H.264, so ``auto`` takes MKV);
* audio only → MP4 with AAC, whatever the audio codec (as WCS does).

The ``record_container`` setting (or nothing: ``auto``) overrides the container: ``mp4``
always transcodes to AAC; ``mkv`` passes Opus through and transcodes G.711; ``webm`` takes
Opus (passed through) and no H.264 — a stream with H.264 goes to MKV instead, said in the
log.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTAINERS = ("auto", "mp4", "mkv", "webm")
_FORMAT = {"mp4": "mp4", "mkv": "matroska", "webm": "webm"}


@dataclass(frozen=True, slots=True)
class ContainerPlan:
    kind: str  # "mp4" | "mkv" | "webm": also the file extension
    audio: str | None  # what the file's audio is: "aac", "opus", or None (no audio)
    video: str | None  # "h264" or None
    note: str = ""  # why the request could not be followed exactly

    @property
    def format(self) -> str:
        return _FORMAT[self.kind]

    @property
    def extension(self) -> str:
        return "." + self.kind


def choose_container(
    setting: str, video_codec: str | None, audio_codec: str | None
) -> ContainerPlan:
    """``video_codec``/``audio_codec``: the stream's codec names (``H264``, ``PCMU``, ``opus``)."""
    setting = (setting or "auto").lower()
    if setting not in CONTAINERS:
        raise ValueError(f"container {setting!r}: one of {', '.join(CONTAINERS)}")
    video = "h264" if video_codec and video_codec.upper() == "H264" else None
    audio_name = (audio_codec or "").lower()
    opus = audio_name == "opus"
    has_audio = audio_name in ("pcmu", "pcma", "opus")
    note = ""
    if setting == "auto":
        kind = "mkv" if video and opus else "mp4"
    elif setting == "webm" and video:
        kind, note = "mkv", "WebM cannot carry H.264: recording to MKV"
    else:
        kind = setting
    if not has_audio:
        audio = None
    elif kind == "mp4":
        audio = "aac"
    elif opus:
        audio = "opus"
    elif kind == "webm":
        audio, kind, note = "aac", "mkv", "WebM cannot carry AAC: recording to MKV"
    else:
        audio = "aac"
    return ContainerPlan(kind, audio, video, note)


__all__ = ["CONTAINERS", "ContainerPlan", "choose_container"]
