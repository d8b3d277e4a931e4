"""PushManager with the real StreamHub and the scripted RTMP server: statuses, events,
duplicates, failures with the server's reason, reconnect, source end, direct SIP-as-RTMP.
(Interoperability is shown against nginx-rtmp in tests/integration/test_push_*.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.unit.rtmp.fake_server import FakeRtmpServer
from tests.unit.rtmp.test_muxer import trace_access_units
from wcs.app.errors import RequestError
from wcs.app.streams import Publication, PublisherControl, StreamHub, TrackInfo
from wcs.media.audio import AudioFrame
from wcs.media.h264.nal import AccessUnit
from wcs.rest.views import push_json
from wcs.rtmp import messages as m
from wcs.rtmp.push import PushJob, PushManager, PushRequest, PushStatus
from wcs.rtmp.reconnect import ReconnectPolicy


def tracks(video: bool = True) -> dict[str, TrackInfo]:
    out = {"audio": TrackInfo("audio", "PCMU", 8000)}
    if video:
        out["video"] = TrackInfo("video", "H264", 90000)
    return out


def feed(stream: Publication, seconds_of_trace: int = 1) -> None:
    for i, (ts, nals) in enumerate(trace_access_units()):
        key = any(n[0] & 0x1F == 5 for n in nals)
        stream.feed_video(AccessUnit(ts * 90, nals, keyframe=key), float(ts))
        if i % 2 == 0:
            for k in range(3):
                t = ts + 20 * k
                stream.feed_audio(AudioFrame("PCMU", t * 8, 8000, b"\x7f" * 160, 160), float(t))


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


class Recorder:
    def __init__(self, manager: PushManager) -> None:
        self.seen: list[tuple[str, str | None]] = []
        manager.watch(self)

    def __call__(self, job: PushJob) -> None:
        self.seen.append((job.status.value, job.info))

    def statuses(self) -> list[str]:
        return [s for s, _ in self.seen]


@pytest.mark.asyncio
async def test_push_before_the_stream_then_publishing_then_source_end() -> None:
    hub = StreamHub()
    manager = PushManager(hub)
    rec = Recorder(manager)
    async with FakeRtmpServer() as server:
        url = f"rtmp://127.0.0.1:{server.port}/live"
        job = manager.startup(PushRequest("call1", url))
        assert job.stream_name == "rtmp_call1"
        assert push_json(job)["status"] == "PENDING"
        await asyncio.sleep(0.05)
        assert not server.publishing.is_set()  # no stream yet: nothing connects
        stream = hub.publish("call1", call_id=None, app_key="defaultApp")
        stream.set_tracks(tracks())
        await until(lambda: job.status is PushStatus.PUBLISHING)
        feed(stream)
        await until(lambda: any(x.type_id == m.VIDEO for x in server.received))
        await until(lambda: any(x.type_id == m.AUDIO for x in server.received))
        publish = next(c for c in server.commands() if c[0] == "publish")
        assert publish[3] == "rtmp_call1"
        assert job.width == 352 and job.height == 288
        stream.unpublish("Stopped by publisher stop")
        await job.wait_closed()
    assert job.status is PushStatus.STOPPED and job.info == "Stopped by publisher stop"
    assert manager.all() == []
    assert rec.statuses()[-1] == "STOPPED" and "PUBLISHING" in rec.statuses()
    assert any(c[0] == "FCUnpublish" for c in server.commands())  # a polite end


@pytest.mark.asyncio
async def test_a_source_that_never_comes_fails_the_push_after_the_timeout() -> None:
    hub = StreamHub()
    manager = PushManager(hub, source_timeout=0.1)
    rec = Recorder(manager)
    async with FakeRtmpServer() as server:
        job = manager.startup(PushRequest("ghost", f"rtmp://127.0.0.1:{server.port}/live"))
        await job.wait_closed()
        assert not server.publishing.is_set()
    assert job.status is PushStatus.FAILED
    assert job.info == "Failed: stream 'ghost' not published within 0.1 s"
    assert rec.statuses() == ["PENDING", "FAILED"] and manager.all() == []


@pytest.mark.asyncio
async def test_first_video_is_a_keyframe_from_the_stream_cache() -> None:
    hub = StreamHub()
    manager = PushManager(hub)
    stream = hub.publish("s", call_id=None, app_key="a")
    stream.set_tracks(tracks())
    aus = trace_access_units()
    for ts, nals in aus[:10]:  # the keyframe and nine more, before the push exists
        key = any(n[0] & 0x1F == 5 for n in nals)
        stream.feed_video(AccessUnit(ts * 90, nals, keyframe=key), float(ts))
    async with FakeRtmpServer() as server:
        job = manager.startup(PushRequest("s", f"rtmp://127.0.0.1:{server.port}/live"))
        await until(lambda: job.status is PushStatus.PUBLISHING)
        last = float(aus[9][0])
        for k in range(20):  # live audio: the held GOP goes out with silence before it
            t = last + 20 * k
            stream.feed_audio(AudioFrame("PCMU", int(t) * 8, 8000, b"\x7f" * 160, 160), t)
        await until(lambda: sum(x.type_id == m.VIDEO for x in server.received) >= 3)
        video = [x.payload for x in server.received if x.type_id == m.VIDEO]
        assert video[0][:2] == b"\x17\x00"  # sequence header
        assert video[1][:2] == b"\x17\x01"  # then the cached keyframe
        await manager.close()
    assert job.status is PushStatus.STOPPED


@pytest.mark.asyncio
async def test_refused_publish_is_failed_with_the_servers_reason_and_forgotten() -> None:
    hub = StreamHub()
    manager = PushManager(hub)
    rec = Recorder(manager)
    stream = hub.publish("s", call_id=None, app_key="a")
    stream.set_tracks(tracks(video=False))
    async with FakeRtmpServer(publish_code="NetStream.Publish.BadName") as server:
        job = manager.startup(PushRequest("s", f"rtmp://127.0.0.1:{server.port}/live"))
        await job.wait_closed()
    assert job.status is PushStatus.FAILED
    assert job.info is not None and "NetStream.Publish.BadName" in job.info
    assert rec.statuses()[-1] == "FAILED"
    assert manager.find(stream_name="s") == []


@pytest.mark.asyncio
async def test_server_closing_mid_push_fails_then_reconnects() -> None:
    hub = StreamHub()
    manager = PushManager(hub, policy=ReconnectPolicy(attempts=2, backoff=0.01))
    rec = Recorder(manager)
    stream = hub.publish("s", call_id=None, app_key="a")
    stream.set_tracks(tracks(video=False))
    async with FakeRtmpServer(close_when_publishing=True) as server:
        job = manager.startup(PushRequest("s", f"rtmp://127.0.0.1:{server.port}/live"))
        await job.wait_closed()
    # published, dropped by the server (at once: it may come with Publish.Start), retried
    # twice, then gave up
    assert server.publishing.is_set()
    assert rec.statuses().count("FAILED") == 3
    assert rec.statuses().count("PENDING") == 4  # created + one connect per attempt
    assert job.reconnects == 2 and job.status is PushStatus.FAILED
    assert job.info is not None and job.info.startswith("Failed by RTMP writer error")
    assert manager.all() == []


@pytest.mark.asyncio
async def test_terminate_and_mute() -> None:
    hub = StreamHub()
    manager = PushManager(hub)
    stream = hub.publish("s", call_id=None, app_key="a")
    stream.set_tracks(tracks(video=False))
    async with FakeRtmpServer() as server:
        job = manager.startup(
            PushRequest(
                "s", f"rtmp://127.0.0.1:{server.port}/live", options={"action": "mute"}, muted=True
            )
        )
        await until(lambda: job.status is PushStatus.PUBLISHING)
        assert push_json(job)["muted"] is True
        assert manager.mute(job.media_session_id, False) and not job.muted
        assert not manager.mute("nope", True)
        assert manager.terminate(job.media_session_id)
        await job.wait_closed()
        assert not manager.terminate(job.media_session_id)
    assert job.info == "Stopped by rest /terminate"


@pytest.mark.asyncio
async def test_duplicates_and_bad_urls() -> None:
    hub = StreamHub()
    manager = PushManager(hub)
    job = manager.startup(PushRequest("s", "rtmp://127.0.0.1:9/live"))
    with pytest.raises(RequestError) as dup:
        manager.startup(PushRequest("s", "rtmp://127.0.0.1:9/live"))
    assert dup.value.status == 409
    other = manager.startup(PushRequest("s", "rtmp://127.0.0.1:9/other"))
    for bad in ("rtmp://127.0.0.1:9", "rtmp:///live", "http://x/live"):
        with pytest.raises(RequestError) as info:
            manager.startup(PushRequest("t", bad))
        assert (info.value.status, info.value.field) == (400, "rtmpUrl")
    full = manager.startup(PushRequest("t", "rtmp://127.0.0.1:9/live/key123", full_url=True))
    assert full.stream_name == "key123"
    assert {j.media_session_id for j in manager.find(stream_name="rtmp_s")} == {
        job.media_session_id,
        other.media_session_id,
    }
    assert manager.find(rtmp_url="rtmp://127.0.0.1:9/other") == [other]
    await manager.close()
    assert manager.all() == []


@pytest.mark.asyncio
async def test_direct_sip_as_rtmp_follows_the_calls_stream() -> None:
    hub = StreamHub()
    calls = {"c1": ("", "my_rtmp")}
    async with FakeRtmpServer() as server:
        calls["c1"] = (f"rtmp://127.0.0.1:{server.port}/live", "my_rtmp")
        manager = PushManager(hub, call_lookup=calls.get)
        other = hub.publish("plain", call_id="c2", app_key="a")  # a call without rtmpUrl
        other.set_tracks(tracks(video=False))
        stream = hub.publish("sip_rtmp_c1", call_id="c1", app_key="app1")
        stream.set_tracks(tracks(video=False))
        assert len(manager.all()) == 1
        job = manager.all()[0]
        assert (job.stream_name, job.request.call_id, job.app_key) == ("my_rtmp", "c1", "app1")
        await until(lambda: job.status is PushStatus.PUBLISHING)
        stream.unpublish("Normal call clearing")
        await job.wait_closed()
    assert job.status is PushStatus.STOPPED


@pytest.mark.asyncio
async def test_keyframe_interval_asks_the_source() -> None:
    hub = StreamHub()
    manager = PushManager(hub, keyframe_interval=1.0)
    asked: list[int] = []
    control = PublisherControl(request_keyframe=lambda: asked.append(1))
    stream = hub.publish("s", call_id=None, app_key="a", control=control)
    stream.set_tracks(tracks())
    async with FakeRtmpServer() as server:
        job = manager.startup(PushRequest("s", f"rtmp://127.0.0.1:{server.port}/live"))
        await until(lambda: job.status is PushStatus.PUBLISHING)
        start = len(asked)  # one at the start: nothing cached yet
        feed(stream)  # one keyframe, then 3 s of inter frames
        assert len(asked) - start == 3  # at 1, 2 and 3 s after the keyframe
        await manager.close()
