#!/usr/bin/python3
"""A WHIP client on GStreamer's webrtcbin (libnice ICE, GStreamer's DTLS/SRTP/RTP): what
OBS-like tools do. Publishes an H.264 test picture (x264enc, constrained baseline) and a
440 Hz Opus tone; the offer goes out at once, the candidates follow by ``PATCH``
(trickle-ice-sdpfrag, RFC 9725 4.3) as libnice gathers them. Runs under the system Python
(python3-gi, gir1.2-gst-plugins-bad-1.0), not the project's venv.

Usage: gst_whip.py WHIP_URL [BEARER_TOKEN]. Prints ``LOCATION <path>``, then ``PATCH <status>``
per trickle request and ``STATE <ice state>`` changes; on SIGINT or SIGTERM it sends
``DELETE`` to the session and exits 0.
"""

from __future__ import annotations

import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

PIPELINE = (
    "webrtcbin name=send bundle-policy=max-bundle "
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 "
    "! videoconvert ! queue ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=50 "
    "! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 pt=96 "
    "! application/x-rtp,media=video,encoding-name=H264,payload=96 ! send. "
    "audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample ! queue "
    "! opusenc ! rtpopuspay pt=111 "
    "! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! send. "
)


def say(text: str) -> None:
    print(text, flush=True)


class WhipClient:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.location = ""
        self.etag = ""
        self.offer = ""
        self.pending: list[str] = []  # candidates gathered before the session exists
        self.lock = threading.Lock()
        self.loop = GLib.MainLoop()
        self.pipe = Gst.parse_launch(PIPELINE)
        self.webrtc = self.pipe.get_by_name("send")
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self.on_ice_candidate)
        self.webrtc.connect("notify::ice-connection-state", self.on_ice_state)

    def request(
        self, method: str, url: str, body: bytes, ctype: str
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": ctype} if ctype else {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if method == "PATCH" and self.etag:
            headers["If-Match"] = self.etag
        req = urllib.request.Request(url, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()

    def on_negotiation_needed(self, element: Gst.Element) -> None:
        promise = Gst.Promise.new_with_change_func(self.on_offer, element, None)
        element.emit("create-offer", None, promise)

    def on_offer(self, promise: Gst.Promise, element: Gst.Element, _: object) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        element.emit("set-local-description", offer, Gst.Promise.new())
        self.offer = offer.sdp.as_text()
        # Sent at once, without waiting for candidates: they follow by PATCH.
        status, headers, body = self.request(
            "POST", self.url, self.offer.encode(), "application/sdp"
        )
        if status != 201:
            say(f"POST {status} {body[:200]!r}")
            self.loop.quit()
            return
        lower = {k.lower(): v for k, v in headers.items()}
        self.location = urllib.parse.urljoin(self.url, lower["location"])
        self.etag = lower.get("etag", "")
        say("LOCATION " + lower["location"])
        _ok, sdp = GstSdp.SDPMessage.new_from_text(body.decode())
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        element.emit("set-remote-description", answer, Gst.Promise.new())
        with self.lock:
            pending, self.pending = self.pending, []
        if pending:
            self.trickle(pending)

    def on_ice_candidate(self, element: Gst.Element, mline: int, candidate: str) -> None:
        if mline != 0:
            return  # bundled: the first m-line's candidates are the transport's
        with self.lock:
            if not self.location:
                self.pending.append(candidate)
                return
        self.trickle([candidate])

    def trickle(self, candidates: list[str]) -> None:
        lines = self.offer.splitlines()
        ufrag = next(x for x in lines if x.startswith("a=ice-ufrag:"))
        pwd = next(x for x in lines if x.startswith("a=ice-pwd:"))
        mline = next(x for x in lines if x.startswith("m="))
        frag = [ufrag, pwd, mline, "a=mid:" + self.first_mid(lines)]
        frag += ["a=" + c if not c.startswith("a=") else c for c in candidates]
        body = ("\r\n".join(frag) + "\r\n").encode()
        status, _, _ = self.request("PATCH", self.location, body, "application/trickle-ice-sdpfrag")
        say(f"PATCH {status}")

    @staticmethod
    def first_mid(lines: list[str]) -> str:
        return next((x.split(":", 1)[1] for x in lines if x.startswith("a=mid:")), "0")

    def on_ice_state(self, element: Gst.Element, _: object) -> None:
        say("STATE " + element.get_property("ice-connection-state").value_nick)

    def stop(self, *_: object) -> bool:
        if self.location:
            status = self.request("DELETE", self.location, b"", "")[0]
            say(f"DELETE {status}")
        self.pipe.set_state(Gst.State.NULL)
        self.loop.quit()
        return False

    def run(self) -> None:
        self.pipe.set_state(Gst.State.PLAYING)
        for sig in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, self.stop)
        self.loop.run()


if __name__ == "__main__":
    Gst.init(None)
    WhipClient(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "").run()
