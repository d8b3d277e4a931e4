"""``/push/sound_on`` and ``/push/sound_off`` on a real push: a baresip callee (a 1000 Hz tone)
pushed through the real ``wcs serve`` to nginx-rtmp, pulled back and decoded with PyAV. The
FFT of the pulled audio shows the callee's tone, then the sound file's tone (a WAV of another
frequency, at another rate and in stereo, so it is resampled) after sound_on, then the
callee's again after sound_off; bad requests on the live push are refused and change nothing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.integration.conftest import HookCollector, WcsFactory, call_body
from tests.integration.push_helpers import wait_push
from tests.integration.test_push_calls import base_url, new_id
from tests.peers.rtmp import NginxRtmp
from tests.unit.media.test_sound import write_tone

pytestmark = pytest.mark.peers

CALL_HZ = 1000
SOUND_HZ = 2500
WINDOW_S = 0.5


class AudioPull:
    """PyAV pull of the pushed stream in a thread, keeping every decoded audio sample."""

    def __init__(self, url: str) -> None:
        self.rate = 0
        self.chunks: list[tuple[float, np.ndarray[Any, Any]]] = []  # (pts s, mono samples)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        try:
            with av.open(url, timeout=(40.0, 15.0)) as container:
                audio = container.streams.audio[0]
                try:
                    for packet in container.demux(audio):
                        for frame in packet.decode():
                            if frame.pts is None or frame.time_base is None:
                                continue
                            self.rate = frame.sample_rate
                            samples = frame.to_ndarray().astype(np.float64)
                            pts = float(frame.pts * frame.time_base)
                            self.chunks.append((pts, samples.reshape(-1, samples.shape[-1])[0]))
                except (av.error.EOFError, av.error.ExitError, OSError):
                    pass  # nginx closes the player when the publisher leaves: the end
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the pull did not end with the push"
        if self.error is not None:
            raise self.error

    def windows(self) -> list[tuple[float, float]]:
        """(start pts, dominant frequency) of consecutive WINDOW_S windows."""
        assert self.chunks and self.rate
        t0 = self.chunks[0][0]
        pcm = np.concatenate([c for _, c in self.chunks])
        n = int(WINDOW_S * self.rate)
        out = []
        for i in range(0, len(pcm) - n + 1, n):
            x = pcm[i : i + n] * np.hanning(n)
            spectrum = np.abs(np.fft.rfft(x))
            out.append((t0 + i / self.rate, float(np.argmax(spectrum) * self.rate / n)))
        return out


def label(hz: float) -> str:
    if abs(hz - CALL_HZ) < 0.03 * CALL_HZ:
        return "call"
    if abs(hz - SOUND_HZ) < 0.03 * SOUND_HZ:
        return "sound"
    return "other"  # a window across a switch


def runs(labels: list[str]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for name in labels:
        if name == "other":
            continue
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1] + 1)
        else:
            out.append((name, 1))
    return out


def test_sound_on_replaces_the_call_audio_and_sound_off_brings_it_back(
    kamailio: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    nginx_rtmp: NginxRtmp,
    tmp_path: Path,
) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    write_tone(sounds / "beep.wav", SOUND_HZ, 0.7, rate=44100, channels=2)  # looped
    (sounds / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 20)
    (tmp_path / "private.wav").write_bytes((sounds / "beep.wav").read_bytes())
    peer = callee(media="audio", tone_hz=CALL_HZ)
    server = wcs(rest_hooks=f"testApp={hooks.url}", sounds_dir=sounds)
    cid = new_id()
    name = f"snd_{cid}"
    body = call_body(kamailio, cid, peer.user, toStream=name, hasVideo="false")
    assert server.rest("call/startup", body)[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    pulled = AudioPull(nginx_rtmp.url(f"rtmp_{name}"))
    time.sleep(0.5)
    status, job = server.rest("push/startup", {"streamName": name, "rtmpUrl": base_url(nginx_rtmp)})
    assert status == 200 and job["soundEnabled"] is False
    msid = job["mediaSessionId"]
    wait_push(hooks, msid, "PUBLISHING")
    time.sleep(3)

    # Refusals on the live push: 400 naming the field, 404 for another id; nothing changes.
    for bad in ("../private.wav", str(tmp_path / "private.wav"), "nosuch.wav", "broken.wav"):
        status, answer = server.rest("push/sound_on", {"mediaSessionId": msid, "soundFile": bad})
        assert (status, answer["field"]) == (400, "soundFile"), answer
        assert str(tmp_path) not in answer["error"]
    status, answer = server.rest("push/sound_on", {"mediaSessionId": msid})
    assert (status, answer["field"]) == (400, "soundFile")
    status, answer = server.rest("push/sound_on", {"soundFile": "beep.wav"})
    assert (status, answer["field"]) == (400, "mediaSessionId")
    assert server.rest("push/sound_on", {"mediaSessionId": "x", "soundFile": "beep.wav"})[0] == 404
    assert server.rest("push/sound_off", {"mediaSessionId": "x"})[0] == 404
    time.sleep(2)

    assert server.rest(
        "push/sound_on", {"mediaSessionId": msid, "soundFile": "beep.wav", "loop": "true"}
    ) == (200, None)
    status, found = server.rest("push/find", {"mediaSessionId": msid})
    assert status == 200 and found[0]["soundEnabled"] is True
    assert found[0]["status"] == "PUBLISHING"
    time.sleep(4)
    assert server.rest("push/sound_off", {"mediaSessionId": msid}) == (200, None)
    status, found = server.rest("push/find", {"mediaSessionId": msid})
    assert found[0]["soundEnabled"] is False
    time.sleep(3)
    assert server.rest("push/terminate", {"mediaSessionId": msid}) == (200, None)
    wait_push(hooks, msid, "STOPPED")
    pulled.join(40)
    server.rest("call/terminate", {"callId": cid})

    windows = pulled.windows()
    labels = [label(hz) for _, hz in windows]
    seen = runs(labels)
    others = [round(hz) for (_, hz), lab in zip(windows, labels, strict=True) if lab == "other"]
    print(f"\npush sound windows ({WINDOW_S} s): {seen}; other: {others}")
    # The call's tone (the refused requests changed nothing), the file's, the call's again.
    assert [r for r, _ in seen] == ["call", "sound", "call"], seen
    assert seen[0][1] * WINDOW_S >= 4  # 3 s + 2 s before sound_on, less the pull's start
    assert seen[1][1] * WINDOW_S >= 3  # sound on for 4 s; the 0.7 s file looped
    assert seen[2][1] * WINDOW_S >= 2  # 3 s after sound_off
    assert labels.count("other") <= 4  # only the windows across the two switches
    # The pulled timeline has no hole: the sound kept the call's timing.
    pts = [p for p, _ in pulled.chunks]
    assert pts == sorted(pts) and max(np.diff(pts)) < 0.1
