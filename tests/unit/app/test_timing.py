"""Media clock, inactivity watch, keyframe ladder and generated tracks, with injected time."""

from __future__ import annotations

from wcs.app.stream_feed import StreamFeed
from wcs.app.streams import StreamHub
from wcs.media.audio import AudioFrame
from wcs.media.clock import MediaClock
from wcs.media.h264 import AccessUnit
from wcs.rtp.activity import ActivityWatch
from wcs.rtp.keyframe import KeyframeRequester
from wcs.rtp.sr import SenderClock, seconds_to_ntp


def test_clock_anchors_each_track_at_its_first_arrival_and_wraps() -> None:
    c = MediaClock(start=100.0)
    assert c.pts("audio", 1000, 100.5, 8000) == 500.0
    assert c.pts("audio", 1000 + 8000, 999.0, 8000) == 1500.0  # RTP time, not arrival
    assert c.pts("video", 0xFFFFFF00, 101.0, 90000) == 1000.0
    assert abs(c.pts("video", 0x100 - 0x100 + 0x00, 0, 90000) - (1000 + 256 / 90)) < 1e-9


def test_clock_aligns_video_on_audio_once_both_have_sender_reports() -> None:
    c = MediaClock(start=0.0)
    c.pts("audio", 8000, 1.0, 8000)  # anchored at 1000 ms
    c.pts("video", 90000, 1.3, 90000)  # arrived 300 ms later (slower path)
    ca, cv = SenderClock(8000), SenderClock(90000)
    # The sender's wall clock says audio ts 8000 and video ts 90000 were captured together.
    ca.update(seconds_to_ntp(50.0), 8000)
    cv.update(seconds_to_ntp(50.0), 90000)
    assert c.align({"audio": ca}) is False
    assert c.align({"audio": ca, "video": cv}) is True
    assert abs(c.pts("video", 90000, 9.0, 90000) - 1000.0) < 0.01
    assert c.align({"audio": ca, "video": cv}) is False  # once only


def test_activity_watch_with_hold() -> None:
    w = ActivityWatch(2.0, now=0.0)
    assert not w.expired(1.9) and w.expired(2.0) and w.deadline() == 2.0
    w.on_packet(1.5)
    assert not w.expired(3.0) and w.expired(3.5)
    w.suspend()
    assert not w.expired(100.0) and w.deadline() is None
    w.resume(100.0)
    assert not w.expired(101.0) and w.expired(102.0)
    off = ActivityWatch(0.0, now=0.0)
    assert not off.expired(1e9) and off.deadline() is None


def test_keyframe_ladder_resets_after_a_keyframe() -> None:
    k = KeyframeRequester(min_interval=1.0)
    assert [k.request(t) for t in (0, 0.5, 1, 2, 3, 4)] == [
        "pli",
        None,
        "fir",
        "info",
        "pli",
        "fir",
    ]
    k.on_keyframe()
    assert k.request(5) == "pli"
    assert k.sent == {"pli": 3, "fir": 2, "info": 1}


class Sink:
    def __init__(self) -> None:
        self.video: list[tuple[AccessUnit, float]] = []
        self.audio: list[float] = []

    def on_video(self, au: AccessUnit, pts_ms: float) -> None:
        self.video.append((au, pts_ms))

    def on_audio(self, frame: AudioFrame, pts_ms: float) -> None:
        self.audio.append(pts_ms)

    def on_stream_end(self, reason: str) -> None:
        pass


def test_generated_black_video_starts_with_the_real_media() -> None:
    feed = StreamFeed(start=0.0, generate="video")
    tracks = feed.generated_tracks({"audio"})
    assert set(tracks) == {"video"} and tracks["video"].generated
    assert (tracks["video"].width, tracks["video"].height) == (320, 240)
    publication = StreamHub().publish("s", call_id=None, app_key="a")
    feed.stream = publication
    sink = Sink()
    publication.stream.subscribe_frames(sink)
    assert feed.get_timer() is None  # no real media yet: no black either
    feed.on_audio(AudioFrame("PCMA", 0, 8000, b"\xd5" * 160, 160), 2.0)
    assert feed.get_timer() == 2.0
    t = 2.0
    for _ in range(12):
        feed.handle_timer(t)
        t += 0.1
    assert len(sink.video) == 12
    assert sink.video[0][0].keyframe and sink.video[10][0].keyframe
    assert sink.video[0][1] >= sink.audio[0]
    assert all(b[1] > a[1] for a, b in zip(sink.video, sink.video[1:], strict=False))


def test_no_generator_when_both_tracks_are_real() -> None:
    feed = StreamFeed(start=0.0, generate="all")
    assert feed.generated_tracks({"audio", "video"}) == {}
    silence = StreamFeed(start=0.0, generate="audio").generated_tracks({"video"})
    assert silence["audio"].codec == "PCMU"


def test_black_gop_decodes_to_black_pictures() -> None:
    import av

    from wcs.media.generators import black_gop

    ctx = av.CodecContext.create("h264", "r")
    pictures = []
    for nals in black_gop():
        pictures += ctx.decode(av.Packet(AccessUnit(0, list(nals)).annexb()))
    assert len(pictures) == len(black_gop())
    rgb = pictures[0].to_ndarray(format="rgb24")
    assert rgb.shape == (240, 320, 3) and int(rgb.max()) <= 4
