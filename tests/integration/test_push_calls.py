"""RTMP republishing of real SIP calls (baresip callee through Kamailio) to a real nginx-rtmp,
checked with ffprobe and by decoding the pulled stream with PyAV.

The server is the real ``wcs serve`` process; push statuses come back as StreamStatusEvent
REST hooks (our push events carry ``mediaProvider: "RTMP"``).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess
from tests.integration.push_helpers import (
    Pulled,
    call_body,
    pull,
    push_events,
    restart_nginx,
    stream_push_msid,
    wait_push,
)
from tests.peers.rtmp import NginxRtmp, ffprobe, start_nginx_rtmp

pytestmark = pytest.mark.peers

CALL_SECONDS = float(os.environ.get("WCS_TEST_PUSH_CALL_SECONDS", "60"))


def new_id() -> str:
    return "p" + secrets.token_hex(5)


def start(wcs: WcsFactory, hooks: HookCollector, **settings: Any) -> WcsProcess:
    return wcs(rest_hooks=f"testApp={hooks.url}", **settings)


def base_url(nginx: NginxRtmp) -> str:
    return f"rtmp://{nginx.host}:{nginx.port}/live"


def by_type(streams: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["codec_type"]: s for s in streams}


class Puller:
    """A PyAV pull in a thread, started as soon as the push publishes."""

    def __init__(self, url: str) -> None:
        self.result: Pulled | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        try:
            self.result = pull(url)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self, timeout: float) -> Pulled:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the pull did not end with the push"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def test_push_of_an_av_call_decodes_whole_and_stays_in_sync(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, nginx_rtmp: NginxRtmp
) -> None:
    peer = callee(media="av")
    server = start(wcs, hooks)
    cid = new_id()
    name = f"stream_{cid}"
    # The push may come before the call's media: it waits PENDING for the stream.
    status, job = server.rest("push/startup", {"streamName": name, "rtmpUrl": base_url(nginx_rtmp)})
    assert status == 200, job
    msid = job["mediaSessionId"]
    assert job["streamName"] == f"rtmp_{name}" and job["status"] == "PENDING"
    assert job["rtmpUrl"] == base_url(nginx_rtmp) and job["muted"] is False
    # Duplicate stream + rtmpUrl: 409; a missing or bad rtmpUrl: 400 naming the field.
    status, body = server.rest("push/startup", {"streamName": name,
                                                "rtmpUrl": base_url(nginx_rtmp)})
    assert status == 409 and body["field"] == "rtmpUrl"
    for bad in ({"streamName": name}, {"streamName": name, "rtmpUrl": "rtmp://127.0.0.1"},
                {"streamName": name, "rtmpUrl": "http://x/live"}):
        status, body = server.rest("push/startup", bad)
        assert status == 400 and body["field"] == "rtmpUrl", body

    t_call = time.monotonic()
    status, _ = server.rest("call/startup", call_body(kamailio, cid, peer.user, toStream=name))
    assert status == 200
    hooks.wait_status(cid, "ESTABLISHED")
    wait_push(hooks, msid, "PUBLISHING")
    url = nginx_rtmp.url(f"rtmp_{name}")
    puller = Puller(url)
    streams = by_type(ffprobe(url))
    status, found = server.rest("push/find", {"streamName": f"rtmp_{name}"})
    assert status == 200 and [f["mediaSessionId"] for f in found] == [msid]
    assert found[0]["status"] == "PUBLISHING"
    assert (found[0]["width"], found[0]["height"]) == (352, 288)
    status, every = server.rest("push/find_all", method="GET")
    assert status == 200 and [f["mediaSessionId"] for f in every] == [msid]

    remaining = CALL_SECONDS - (time.monotonic() - t_call)
    if remaining > 0:
        time.sleep(remaining)
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    stopped = wait_push(hooks, msid, "STOPPED")
    assert stopped["info"] == "Stopped by publisher stop"
    pulled = puller.join(30)
    assert server.rest("push/find_all")[0] == 404

    # ffprobe: H.264 at the callee's resolution and AAC.
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (352, 288)
    assert streams["audio"]["codec_name"] == "aac"
    # PyAV decoded the whole pulled length without an error.
    assert pulled.decode_errors == 0
    assert (pulled.video_codec, pulled.audio_codec) == ("h264", "aac")
    assert pulled.size == (352, 288)
    v_first, a_first = pulled.first()
    v_last, a_last = pulled.last()
    v_span, a_span = v_last - v_first, a_last - a_first
    a_decoded = pulled.audio_samples / pulled.audio_rate
    print(f"\npush A/V figures: pulled {pulled.wall_seconds:.1f} s wall ({pulled.ended_by}); "
          f"video {pulled.video_frames} frames over {v_span:.3f} s, audio {pulled.audio_frames} frames over {a_span:.3f} s "
          f"({a_decoded:.3f} s of samples); start offset a-v {1000 * (a_first - v_first):+.0f} "
          f"ms, end offset a-v {1000 * (a_last - v_last):+.0f} ms")
    assert pulled.video_frames >= 12 * (CALL_SECONDS - 15)  # 15 fps source, pull joined late
    assert abs(a_first - v_first) < 0.100  # audio and video start together
    # No drift: the tracks end together as well, and the audio samples fill its timeline.
    assert abs((a_last - v_last) - (a_first - v_first)) < 0.100
    assert abs(a_decoded - a_span) < 0.100
    assert v_span > CALL_SECONDS - 20


def test_audio_only_call_gives_aac_and_with_the_generator_black_video(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, nginx_rtmp: NginxRtmp
) -> None:
    results: dict[str, tuple[dict[str, dict[str, Any]], Pulled]] = {}
    for generate in ("none", "video"):
        peer = callee(media="audio")
        server = start(wcs, hooks, generate_av=generate)
        cid = new_id()
        name = f"a_{cid}"
        assert server.rest("call/startup", call_body(
            kamailio, cid, peer.user, toStream=name, hasVideo="false"))[0] == 200
        hooks.wait_status(cid, "ESTABLISHED")
        status, job = server.rest("push/startup", {"streamName": name,
                                                   "rtmpUrl": base_url(nginx_rtmp)})
        assert status == 200
        wait_push(hooks, job["mediaSessionId"], "PUBLISHING")
        url = nginx_rtmp.url(f"rtmp_{name}")
        puller = Puller(url)
        streams = by_type(ffprobe(url))
        time.sleep(6)
        assert server.rest("push/terminate", {"mediaSessionId": job["mediaSessionId"]}) == (
            200, None)
        stopped = wait_push(hooks, job["mediaSessionId"], "STOPPED")
        assert stopped["info"] == "Stopped by rest /terminate"
        # The call carries on after its push is gone.
        status, calls = server.rest("call/find", {"callId": cid})
        assert status == 200 and calls[0]["status"] == "ESTABLISHED"
        results[generate] = (streams, puller.join(30))
        server.rest("call/terminate", {"callId": cid})
        hooks.wait_status(cid, "FINISH")
    plain, plain_pull = results["none"]
    assert set(plain) == {"audio"} and plain["audio"]["codec_name"] == "aac"
    assert plain_pull.audio_frames > 100 and plain_pull.decode_errors == 0
    assert plain_pull.video_frames == 0
    gen, gen_pull = results["video"]
    assert gen["audio"]["codec_name"] == "aac" and gen["video"]["codec_name"] == "h264"
    assert gen_pull.video_frames > 20 and gen_pull.audio_frames > 100
    assert gen_pull.decode_errors == 0


def test_direct_sip_as_rtmp_via_call_startup(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, nginx_rtmp: NginxRtmp
) -> None:
    peer = callee(media="av")
    server = start(wcs, hooks)
    cid = new_id()
    published = f"direct_{cid}"
    body = call_body(kamailio, cid, peer.user, rtmpUrl=base_url(nginx_rtmp), rtmpStream=published)
    assert server.rest("call/startup", body)[0] == 200
    # A second call to the same rtmpUrl + rtmpStream: 409.
    other = call_body(kamailio, new_id(), peer.user, rtmpUrl=base_url(nginx_rtmp),
                      rtmpStream=published)
    assert server.rest("call/startup", other)[0] == 409
    hooks.wait_status(cid, "ESTABLISHED")
    msid = stream_push_msid(hooks, published)
    wait_push(hooks, msid, "PUBLISHING")
    url = nginx_rtmp.url(published)
    puller = Puller(url)
    streams = by_type(ffprobe(url))
    time.sleep(5)
    status, found = server.rest("push/find", {"streamName": published})
    assert status == 200 and found[0]["callId"] == cid
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    wait_push(hooks, msid, "STOPPED")
    pulled = puller.join(30)
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (352, 288)
    assert streams["audio"]["codec_name"] == "aac"
    assert pulled.decode_errors == 0 and pulled.video_frames > 30 and pulled.audio_frames > 100


def test_nginx_stopped_mid_push_fails_the_push_not_the_call_and_reconnect_resumes(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, tmp_path: Path
) -> None:
    nginx = start_nginx_rtmp(tmp_path / "nginx-own")
    try:
        peer = callee(media="av")
        server = start(wcs, hooks, push_reconnect_attempts=20, push_reconnect_backoff=0.25)
        cid = new_id()
        name = f"r_{cid}"
        assert server.rest("call/startup", call_body(kamailio, cid, peer.user,
                                                     toStream=name))[0] == 200
        hooks.wait_status(cid, "ESTABLISHED")
        status, job = server.rest("push/startup", {"streamName": name,
                                                   "rtmpUrl": base_url(nginx)})
        msid = job["mediaSessionId"]
        wait_push(hooks, msid, "PUBLISHING")
        url = nginx.url(f"rtmp_{name}")
        assert by_type(ffprobe(url))["video"]["codec_name"] == "h264"

        before = len(push_events(hooks, msid))
        nginx.stop()
        failed = wait_push(hooks, msid, "FAILED", after=before)
        assert failed["info"].startswith("Failed by RTMP writer error")
        # The call and its stream carry on: still ESTABLISHED, still receiving.
        _, streams0 = server.rest("stream/find", {"name": name})
        time.sleep(1.5)
        status, calls = server.rest("call/find", {"callId": cid})
        assert status == 200 and calls[0]["status"] == "ESTABLISHED"
        status, streams1 = server.rest("stream/find", {"name": name})
        assert status == 200 and streams1[0]["status"] == "PUBLISHING"
        assert streams1[0]["packetsReceived"] > streams0[0]["packetsReceived"]
        # nginx back on the same port: the push publishes again.
        after_fail = len(push_events(hooks, msid))
        nginx = restart_nginx(nginx)
        wait_push(hooks, msid, "PUBLISHING", after=after_fail, timeout=30)
        streams = by_type(ffprobe(url))
        assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
        status, found = server.rest("push/find", {"streamName": f"rtmp_{name}"})
        assert status == 200 and found[0]["reconnects"] >= 1
        server.rest("call/terminate", {"callId": cid})
        wait_push(hooks, msid, "STOPPED")
    finally:
        nginx.stop()
