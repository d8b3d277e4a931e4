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

from tests.integration.conftest import HookCollector, WcsFactory, WcsProcess, call_body
from tests.integration.push_helpers import (
    Pulled,
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


class Probe:
    """ffprobe in a thread. nginx-rtmp starts a joining player's video at the next keyframe
    (seen: a player joining a live stream gets video from the next IDR only), and a SIP
    callee may send keyframes seconds apart: so the probe joins before the push publishes,
    as the first viewer, and waits (nginx keeps it until the stream appears)."""

    def __init__(self, url: str) -> None:
        self.result: list[dict[str, Any]] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        try:
            self.result = ffprobe(url, 40)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self, timeout: float = 60) -> dict[str, dict[str, Any]]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "ffprobe did not finish"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return by_type(self.result)


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
    status, body = server.rest(
        "push/startup", {"streamName": name, "rtmpUrl": base_url(nginx_rtmp)}
    )
    assert status == 409 and body["field"] == "rtmpUrl"
    for bad in (
        {"streamName": name},
        {"streamName": name, "rtmpUrl": "rtmp://127.0.0.1"},
        {"streamName": name, "rtmpUrl": "http://x/live"},
    ):
        status, body = server.rest("push/startup", bad)
        assert status == 400 and body["field"] == "rtmpUrl", body
    # A player that waits from the start: it sees the push's first tags.
    url = nginx_rtmp.url(f"rtmp_{name}")
    puller = Puller(url)
    probe = Probe(url)
    time.sleep(0.5)

    t_call = time.monotonic()
    status, _ = server.rest("call/startup", call_body(kamailio, cid, peer.user, toStream=name))
    assert status == 200
    hooks.wait_status(cid, "ESTABLISHED")
    wait_push(hooks, msid, "PUBLISHING")
    streams = probe.join()
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
    print(
        f"\npush A/V figures: pulled {pulled.wall_seconds:.1f} s wall ({pulled.ended_by}); "
        f"video {pulled.video_frames} frames over {v_span:.3f} s, "
        f"audio {pulled.audio_frames} frames over {a_span:.3f} s "
        f"({a_decoded:.3f} s of samples); start offset a-v {1000 * (a_first - v_first):+.0f} "
        f"ms, end offset a-v {1000 * (a_last - v_last):+.0f} ms"
    )
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
        assert (
            server.rest(
                "call/startup", call_body(kamailio, cid, peer.user, toStream=name, hasVideo="false")
            )[0]
            == 200
        )
        hooks.wait_status(cid, "ESTABLISHED")
        url = nginx_rtmp.url(f"rtmp_{name}")
        puller, probe = Puller(url), Probe(url)
        time.sleep(0.5)
        status, job = server.rest(
            "push/startup", {"streamName": name, "rtmpUrl": base_url(nginx_rtmp)}
        )
        assert status == 200
        wait_push(hooks, job["mediaSessionId"], "PUBLISHING")
        streams = probe.join()
        time.sleep(6)
        assert server.rest("push/terminate", {"mediaSessionId": job["mediaSessionId"]}) == (
            200,
            None,
        )
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
    url = nginx_rtmp.url(published)
    puller, probe = Puller(url), Probe(url)
    time.sleep(0.5)
    body = call_body(kamailio, cid, peer.user, rtmpUrl=base_url(nginx_rtmp), rtmpStream=published)
    assert server.rest("call/startup", body)[0] == 200
    # A second call to the same rtmpUrl + rtmpStream: 409.
    other = call_body(
        kamailio, new_id(), peer.user, rtmpUrl=base_url(nginx_rtmp), rtmpStream=published
    )
    assert server.rest("call/startup", other)[0] == 409
    hooks.wait_status(cid, "ESTABLISHED")
    msid = stream_push_msid(hooks, published)
    wait_push(hooks, msid, "PUBLISHING")
    streams = probe.join()
    time.sleep(3)
    status, found = server.rest("push/find", {"streamName": published})
    assert status == 200 and found[0]["callId"] == cid
    assert found[0]["mediaStats"]["sentVideo"] > 0 and found[0]["mediaStats"]["sentAudio"] > 0
    status, calls = server.rest("call/find", {"callId": cid})
    assert status == 200 and calls[0]["rtmpStreamStatus"] == "PUBLISHING"
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
        assert (
            server.rest("call/startup", call_body(kamailio, cid, peer.user, toStream=name))[0]
            == 200
        )
        hooks.wait_status(cid, "ESTABLISHED")
        url = nginx.url(f"rtmp_{name}")
        probe = Probe(url)
        time.sleep(0.5)
        status, job = server.rest("push/startup", {"streamName": name, "rtmpUrl": base_url(nginx)})
        msid = job["mediaSessionId"]
        wait_push(hooks, msid, "PUBLISHING")
        assert probe.join()["video"]["codec_name"] == "h264"
        # The same published name at the same server again: refused by us (409).
        status, body = server.rest(
            "push/startup",
            {
                "streamName": name,
                "rtmpUrl": f"{base_url(nginx)}/rtmp_{name}",
                "rtmpTransponderFullUrl": True,
            },
        )
        assert status == 409, body
        # Refusals carry the server's reason: nginx-rtmp closes on an unknown application,
        # and answers BadName to a second publisher of a name.
        for rtmp_url, full, want in (
            (f"rtmp://{nginx.host}:{nginx.port}/nosuchapp", False, "connect"),
            (f"rtmp://localhost:{nginx.port}/live/rtmp_{name}", True, "NetStream.Publish.BadName"),
        ):
            status, other = server.rest(
                "push/startup",
                {"streamName": name, "rtmpUrl": rtmp_url, "rtmpTransponderFullUrl": full},
            )
            assert status == 200, other
            refused = wait_push(hooks, other["mediaSessionId"], "FAILED")
            assert want in refused["info"], refused["info"]
            # Reconnect is on here, so it would retry: terminated, it is forgotten.
            assert (
                server.rest("push/terminate", {"mediaSessionId": other["mediaSessionId"]})[0] == 200
            )
            deadline = time.monotonic() + 5
            while (
                time.monotonic() < deadline
                and server.rest("push/find", {"mediaSessionId": other["mediaSessionId"]})[0] != 404
            ):
                time.sleep(0.05)
            assert server.rest("push/find", {"mediaSessionId": other["mediaSessionId"]})[0] == 404

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
        _, before_restart = server.rest("push/find", {"streamName": f"rtmp_{name}"})
        nginx = restart_nginx(nginx)
        wait_push(hooks, msid, "PUBLISHING", after=after_fail, timeout=30)
        time.sleep(2)
        # nginx's own view: our stream is published again, with both codecs parsed.
        stat = nginx.stat_xml()
        section = stat[stat.index(f"<name>rtmp_{name}</name>") :]
        section = section[: section.index("</stream>")]
        assert "<publishing/>" in section
        assert "<codec>H264</codec>" in section and "<codec>AAC</codec>" in section
        assert "<width>352</width>" in section
        status, found = server.rest("push/find", {"streamName": f"rtmp_{name}"})
        assert status == 200 and found[0]["reconnects"] >= 1
        sent0, sent1 = before_restart[0]["mediaStats"], found[0]["mediaStats"]
        assert sent1["sentVideo"] > sent0["sentVideo"] and sent1["sentAudio"] > sent0["sentAudio"]
        server.rest("call/terminate", {"callId": cid})
        wait_push(hooks, msid, "STOPPED")
    finally:
        nginx.stop()


def test_opus_call_with_hold_and_resume_stays_one_clean_stream(
    kamailio: Any, callee: Any, wcs: WcsFactory, hooks: HookCollector, nginx_rtmp: NginxRtmp
) -> None:
    """An Opus callee (decoded and re-encoded to AAC) that holds and resumes mid-push: the
    push stays PUBLISHING, the pulled timestamps never go back, audio and video stay in
    step, and everything decodes."""
    peer = callee(media="av", audio_codecs="opus")
    server = start(wcs, hooks)
    cid = new_id()
    name = f"o_{cid}"
    url = nginx_rtmp.url(f"rtmp_{name}")
    status, job = server.rest("push/startup", {"streamName": name, "rtmpUrl": base_url(nginx_rtmp)})
    msid = job["mediaSessionId"]
    puller, probe = Puller(url), Probe(url)
    time.sleep(0.5)
    assert server.rest("call/startup", call_body(kamailio, cid, peer.user, toStream=name))[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    wait_push(hooks, msid, "PUBLISHING")
    streams = probe.join()
    time.sleep(4)
    peer.ctrl("hold")
    hooks.wait_status(cid, "HOLD")
    time.sleep(3)
    peer.ctrl("resume")
    deadline = time.monotonic() + 10
    while hooks.statuses(cid)[-1] != "ESTABLISHED" and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(4)
    status, found = server.rest("push/find", {"streamName": f"rtmp_{name}"})
    assert status == 200 and found[0]["status"] == "PUBLISHING"
    assert found[0]["mediaStats"]["opusErrors"] == 0
    server.rest("call/terminate", {"callId": cid})
    wait_push(hooks, msid, "STOPPED")
    pulled = puller.join(30)
    assert [e["status"] for e in push_events(hooks, msid)].count("FAILED") == 0
    assert streams["audio"]["codec_name"] == "aac" and streams["video"]["codec_name"] == "h264"
    assert pulled.decode_errors == 0
    assert pulled.video_pts == sorted(pulled.video_pts)
    assert pulled.audio_pts == sorted(pulled.audio_pts)
    v_first, a_first = pulled.first()
    v_last, a_last = pulled.last()
    print(
        f"\nopus+hold figures: video {pulled.video_frames} frames {v_first:.3f}-{v_last:.3f} s, "
        f"audio {pulled.audio_frames} frames {a_first:.3f}-{a_last:.3f} s"
    )
    assert abs(a_first - v_first) < 0.100
    assert abs(a_last - v_last) < 0.300
