"""/push/sound_on and /push/sound_off through the REST routes with the real PushManager (and,
for a publishing push, the scripted RTMP server): 200 with an empty body, 404 for an unknown
transponder, 400 naming the field; a bad soundFile leaves the push untouched."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.unit.media.test_sound import write_tone
from tests.unit.rtmp.fake_server import FakeRtmpServer
from tests.unit.rtmp.test_push import tracks, until
from wcs.app.streams import StreamHub
from wcs.rest.auth import Authenticator
from wcs.rest.dispatch import Dispatcher
from wcs.rest.http import Headers, Request, Router
from wcs.rest.push_api import add_push_routes
from wcs.rest.views import push_json
from wcs.rtmp.push import PushManager, PushRequest, PushStatus

pytestmark = pytest.mark.asyncio


def setup(sounds: Path) -> tuple[StreamHub, PushManager, Dispatcher]:
    hub = StreamHub()
    manager = PushManager(hub, sounds_dir=str(sounds))
    router = Router()
    add_push_routes(router, manager)
    return hub, manager, Dispatcher(router, Authenticator(""), "*")


async def call(d: Dispatcher, action: str, body: Any) -> tuple[int, Any]:
    raw = json.dumps(body).encode()
    resp = await d.handle(Request("POST", f"/rest-api/push/{action}", {}, Headers({}), raw))
    return resp.status, json.loads(resp.body) if resp.body else None


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    d.mkdir()
    write_tone(d / "tone.wav", 1500, 0.5)
    (d / "junk.wav").write_bytes(b"\x00junk" * 100)
    (tmp_path / "secret.wav").write_bytes((d / "tone.wav").read_bytes())
    return d


async def test_sound_on_and_off_errors_and_states(sounds: Path) -> None:
    _, manager, d = setup(sounds)
    # A push waiting for its stream is a transponder all the same.
    job = manager.startup(PushRequest("later", "rtmp://127.0.0.1:9/live"))
    msid = job.media_session_id
    try:
        for body, field in (
            ({"soundFile": "tone.wav"}, "mediaSessionId"),
            ({"mediaSessionId": msid}, "soundFile"),
            ({"mediaSessionId": msid, "soundFile": ""}, "soundFile"),
            ({"mediaSessionId": msid, "soundFile": ["x"]}, "soundFile"),
            ({"mediaSessionId": msid, "soundFile": "tone.wav", "loop": "maybe"}, "loop"),
            ({"mediaSessionId": msid, "soundFile": "../secret.wav"}, "soundFile"),
            ({"mediaSessionId": msid, "soundFile": str(sounds.parent / "secret.wav")}, "soundFile"),
            ({"mediaSessionId": msid, "soundFile": "nosuch.wav"}, "soundFile"),
            ({"mediaSessionId": msid, "soundFile": "junk.wav"}, "soundFile"),
        ):
            status, answer = await call(d, "sound_on", body)
            assert (status, answer["field"]) == (400, field), (body, answer)
            assert str(sounds) not in answer["error"]
            assert job.sound is None and job.status is PushStatus.PENDING
        assert (await call(d, "sound_on", {"mediaSessionId": "nope", "soundFile": "tone.wav"}))[
            0
        ] == 404
        # An unknown push is 404 before the file is even looked at.
        assert (await call(d, "sound_on", {"mediaSessionId": "nope", "soundFile": "../x"}))[
            0
        ] == 404
        assert await call(d, "sound_off", {"mediaSessionId": "nope"}) == (
            404,
            {"error": "transponder not found", "field": "mediaSessionId"},
        )
        assert (await call(d, "sound_off", {}))[1]["field"] == "mediaSessionId"

        assert await call(
            d, "sound_on", {"mediaSessionId": msid, "soundFile": "tone.wav", "loop": "true"}
        ) == (200, None)
        assert job.sound is not None and job.sound.loop
        status, found = await call(d, "find", {"mediaSessionId": msid})
        assert status == 200 and found[0]["soundEnabled"] is True
        assert await call(d, "sound_off", {"mediaSessionId": msid}) == (200, None)
        assert job.sound is None and push_json(job)["soundEnabled"] is False
    finally:
        manager.terminate(msid)
        await job.wait_closed()


async def test_decoding_runs_off_the_event_loop(
    sounds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, manager, d = setup(sounds)
    job = manager.startup(PushRequest("later", "rtmp://127.0.0.1:9/live"))
    threads: list[threading.Thread] = []
    import wcs.rtmp.push as push_module

    real = push_module.decode

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(push_module, "decode", spy)
    assert await call(
        d, "sound_on", {"mediaSessionId": job.media_session_id, "soundFile": "tone.wav"}
    ) == (200, None)
    assert threads and threads[0] is not threading.main_thread()
    manager.terminate(job.media_session_id)
    await job.wait_closed()


async def test_a_publishing_push_takes_the_sound_and_keeps_it_over_a_reconnect(
    sounds: Path,
) -> None:
    hub, manager, d = setup(sounds)
    stream = hub.publish("s", call_id=None, app_key="a")
    stream.set_tracks(tracks(video=False))
    async with FakeRtmpServer() as server:
        job = manager.startup(PushRequest("s", f"rtmp://127.0.0.1:{server.port}/live"))
        await until(lambda: job.status is PushStatus.PUBLISHING)
        msid = job.media_session_id
        assert await call(
            d, "sound_on", {"mediaSessionId": msid, "soundFile": "tone.wav", "loop": False}
        ) == (200, None)
        attempt = job._attempt
        assert attempt is not None and attempt.worker is not None
        assert attempt.worker.pipeline.sound is job.sound
        # A track change restarts the attempt: the new pipeline has the same sound.
        stream.set_tracks(tracks(video=True))
        await until(
            lambda: (
                job._attempt is not None
                and job._attempt is not attempt
                and job._attempt.worker is not None
            )
        )
        assert job._attempt is not None and job._attempt.worker is not None
        assert job._attempt.worker.pipeline.sound is job.sound
        assert await call(d, "sound_off", {"mediaSessionId": msid}) == (200, None)
        assert job._attempt.worker.pipeline.sound is None
        manager.terminate(msid)
        await job.wait_closed()
