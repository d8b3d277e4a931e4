"""The HLS HTTP edge over a hub stream fed with the trace's call: starting on the first
request, blocking reload, files and their cache headers, bad requests, the end, idle stop."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

from tests.unit.playout.helpers import Source, trace_frames
from wcs.app.aac_stage import AacStages
from wcs.app.hls_output import HlsOutputs, HlsOutputSettings
from wcs.app.streams import StreamHub
from wcs.hls import HlsSettings, validate
from wcs.rest.hls_api import HlsApi
from wcs.rest.message import Headers, Request, Response

TRACE_MS = 3100.0  # a second copy of the trace goes this much later


def get(api: HlsApi, stream: str, file: str, headers: dict[str, str] | None = None,
        **query: str) -> Awaitable[Response]:  # fmt: skip
    req = Request("GET", f"/{stream}/{file}", dict(query), Headers(headers or {}))
    req.path_params = {"stream": stream, "file": file}
    return api.serve(req)


def run(test: Callable[[StreamHub, HlsOutputs, HlsApi], Awaitable[None]], **kw: object) -> None:
    async def main() -> None:
        hub = StreamHub()
        loop = asyncio.get_running_loop()
        stages = AacStages(loop)
        settings = HlsOutputSettings(HlsSettings(target_duration=1.0), **kw)  # type: ignore[arg-type]
        outputs = HlsOutputs(hub, stages, settings, loop)
        try:
            await test(hub, outputs, HlsApi(outputs))
        finally:
            outputs.close()
            stages.close()

    asyncio.run(main())


def names(playlist: str) -> tuple[str, str]:
    """The init segment and the first segment a playlist lists."""
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist)
    assert init
    first = validate.check_playlist(playlist).segments[0].uri
    assert first
    return init[1], first


async def settle(outputs: HlsOutputs, name: str) -> None:
    """Let the AAC thread hand its frames back (the segmenter takes them on the loop); each
    look is a request for the stream, so an idle timer does not end it meanwhile."""
    for _ in range(100):
        await asyncio.sleep(0.01)
        await outputs.open(name, 1)
        stage = outputs.stages.stage_of(outputs.hub.get(name))  # type: ignore[arg-type]
        if stage is None or stage.frames_out * 1024 >= stage.frames_in * 160 * 6 - 4096:
            return


def test_first_request_starts_hls_and_waits_for_a_segment() -> None:
    async def test(hub: StreamHub, outputs: HlsOutputs, api: HlsApi) -> None:
        assert (await get(api, "s", "s.m3u8")).status == 404  # no such stream
        src = Source(hub)
        first = asyncio.create_task(get(api, "s", "s.m3u8"))
        await asyncio.sleep(0.05)
        assert not first.done() and len(outputs) == 1  # started, held for a segment
        src.feed(trace_frames())
        await settle(outputs, "s")
        src.feed(trace_frames(), TRACE_MS)
        resp = await first
        assert resp.status == 200
        assert resp.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert resp.headers["cache-control"] == "max-age=1" and resp.headers["etag"]
        checked = validate.check_playlist(resp.body.decode())
        assert not checked.errors and checked.segments[0].duration
        assert src.keyframe_requests >= 1  # segments near the target: keyframes asked for
        # Files: immutable, ETag, 304 on a match; the init segment has both tracks.
        init_name, seg_name = names(resp.body.decode())
        init = await get(api, "s", init_name)
        assert init.status == 200 and b"avc1" in init.body and b"mp4a" in init.body
        seg = await get(api, "s", seg_name)
        assert seg.status == 200 and seg.headers["cache-control"].endswith("immutable")
        again = await get(api, "s", seg_name, {"If-None-Match": seg.headers["etag"]})
        assert again.status == 304 and again.body == b""

    run(test)


def test_blocking_reload_and_bad_requests() -> None:
    async def test(hub: StreamHub, outputs: HlsOutputs, api: HlsApi) -> None:
        src = Source(hub)
        await outputs.open("s", 1)
        src.feed(trace_frames())
        await settle(outputs, "s")
        history = validate.PlaylistHistory()
        text = (await get(api, "s", "s.m3u8")).body.decode()
        hint = history.add(text).preload_hint
        assert hint is not None
        msn, part = hint[4:-4].split(".")
        held = asyncio.create_task(get(api, "s", "s.m3u8", _HLS_msn=msn, _HLS_part=part))
        held_part = asyncio.create_task(get(api, "s", hint))
        await asyncio.sleep(0.05)
        assert not held.done() and not held_part.done()
        src.feed(trace_frames(), TRACE_MS)
        resp = await held
        assert resp.status == 200
        assert max(x.msn for x in history.add(resp.body.decode()).segments) >= int(msn)
        assert (await held_part).status == 200
        assert history.errors == []
        for query, status in (
            ({"_HLS_msn": str(int(msn) + 1000)}, 400),
            ({"_HLS_msn": "x"}, 400),
            ({"_HLS_part": "1"}, 400),
        ):
            assert (await get(api, "s", "s.m3u8", **query)).status == status
        assert (await get(api, "s", f"seg{int(msn) + 1000}.m4s")).status == 400
        for name in ("x.m3u8", "../s.m3u8", "seg1.ts", "init9.mp4", "s"):
            assert (await get(api, "s", name)).status == 404, name
        # The end: ENDLIST, final cache, nothing more to wait for.
        src.pub.unpublish("done")
        resp = await get(api, "s", "s.m3u8", _HLS_msn="99")
        assert resp.status == 200 and resp.body.decode().endswith("#EXT-X-ENDLIST\n")
        assert resp.headers["cache-control"] == "max-age=60"
        assert (await get(api, "s", f"seg{int(msn) + 99}.m4s")).status == 404
        assert history.add(resp.body.decode()).ended and history.errors == []

    run(test)


def test_audio_only_stream_and_idle_stop() -> None:
    async def test(hub: StreamHub, outputs: HlsOutputs, api: HlsApi) -> None:
        src = Source(hub, video=False)
        await outputs.open("s", 1)
        src.feed([f for f in trace_frames() if f.audio is not None])
        await settle(outputs, "s")
        resp = await get(api, "s", "s.m3u8")
        assert resp.status == 200 and not validate.check_playlist(resp.body.decode()).errors
        init = await get(api, "s", names(resp.body.decode())[0])
        assert b"mp4a" in init.body and b"avc1" not in init.body
        for _ in range(100):  # idle 0.2 s: the output closes and lets the stream go
            if not len(outputs):
                break
            await asyncio.sleep(0.05)
        assert len(outputs) == 0 and src.stream.subscribers == 0

    run(test, idle=0.2)


def test_always_starts_with_the_stream() -> None:
    async def test(hub: StreamHub, outputs: HlsOutputs, api: HlsApi) -> None:
        src = Source(hub)
        assert outputs.get("s") is not None and src.stream.subscribers == 2  # frames + AAC
        src.pub.unpublish("done")
        assert outputs.get("s") is not None  # the ENDLIST playlist stays until idle

    run(test, always=True)


def test_requests_are_counted_by_kind() -> None:
    async def test(hub: StreamHub, outputs: HlsOutputs, api: HlsApi) -> None:
        src = Source(hub)
        await outputs.open("s", 1)
        src.feed(trace_frames())
        await settle(outputs, "s")
        src.feed(trace_frames(), TRACE_MS)
        text = (await get(api, "s", "s.m3u8")).body.decode()
        init_name, seg_name = names(text)
        msn = validate.check_playlist(text).media_sequence
        await get(api, "s", init_name)
        await get(api, "s", seg_name)
        await get(api, "s", f"part{msn}.0.m4s")
        await get(api, "s", "s.m3u8", _HLS_msn=str(msn))
        await get(api, "s", "../etc")
        assert dict(api.requests) == {
            "playlist": 1, "init": 1, "segment": 1, "part": 1, "blocking_playlist": 1,
            "other": 1,
        }  # fmt: skip

    run(test)


def test_program_date_time_is_anchored_on_live_frames_not_the_replayed_gop() -> None:
    """A late output first gets the cached GOP with its old pts: the wall clock of media
    time 0 (EXT-X-PROGRAM-DATE-TIME) comes from the first live frame."""

    async def test(hub: StreamHub, outputs: HlsOutputs, api: HlsApi) -> None:
        src = Source(hub, audio=None)
        video = [f for f in trace_frames() if f.au is not None]
        src.feed(video[:20])  # the keyframe and more are cached, 'long ago'
        output = await outputs.open("s", 1)
        assert output is not None and output.epoch is None  # the replay set no clock
        before = time.time()
        src.feed(video[20:21])
        assert output.epoch is not None
        assert before - video[20].pts / 1000 <= output.epoch <= time.time() - video[20].pts / 1000

    run(test)
