"""The WCS WebSocket protocol core (sans-IO): every message, keep-alive, malformed frames."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.webrtc.signaling import (
    AvailabilityRequested,
    Connected,
    PlayRefused,
    PlayRequested,
    StopRequested,
    WcsSession,
)

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def frame(message: str, payload: Any = None) -> str:
    return json.dumps({"message": message, "data": [payload]})


def sent(session: WcsSession) -> list[dict[str, Any]]:
    out = [json.loads(t) for t in session.data_to_send(0.0)]
    for f in out:  # the SDK evaluates data[0] of every frame: data must be an array
        assert isinstance(f["data"], list), f
    return out


def connected(now: float = 0.0) -> WcsSession:
    s = WcsSession("/127.0.0.1:5000/127.0.0.1:8080", now)
    s.receive_text(
        frame("connection", {"appKey": "myApp", "mediaProviders": ["WebRTC", "MSE"]}), now
    )
    sent(s)
    assert isinstance(s.next_event(), Connected)
    return s


def play(s: WcsSession, msid: str = "m1", name: str = "stream1", **extra: Any) -> None:
    body = {
        "mediaSessionId": msid,
        "name": name,
        "published": False,
        "hasVideo": True,
        "hasAudio": True,
        "status": "PENDING",
        "mediaProvider": "WebRTC",
        "sdp": OFFER,
    }
    body.update(extra)
    s.receive_text(frame("playStream", body), 0.0)


def test_connection_answers_get_user_data() -> None:
    s = WcsSession("/1.2.3.4:5/6.7.8.9:8080", 0.0)
    s.receive_text(
        frame(
            "connection",
            {
                "appKey": "myApp",
                "mediaProviders": ["WebRTC", "MSE", "WSPlayer"],
                "clientVersion": "2.0",
                "sipPassword": "secret-pw",
                "authToken": "tok",
            },
        ),
        0.0,
    )
    [reply] = sent(s)
    assert reply["message"] == "getUserData"
    body = reply["data"][0]
    assert body["status"] == "ESTABLISHED"
    assert body["appKey"] == "myApp"
    assert body["authToken"] == body["sessionId"] == "/1.2.3.4:5/6.7.8.9:8080"
    assert body["mediaProviders"] == ["WebRTC", "MSE", "WSPlayer"]
    assert "secret-pw" not in json.dumps(reply)
    event = s.next_event()
    assert isinstance(event, Connected) and event.app_key == "myApp"
    assert "sipPassword" not in event.fields and "authToken" not in event.fields
    assert "secret-pw" not in repr(event)
    # A second connection frame changes nothing.
    s.receive_text(frame("connection", {"appKey": "other"}), 0.0)
    assert sent(s) == [] and s.app_key == "myApp"


def test_connection_without_payload_uses_default_app() -> None:
    s = WcsSession("x", 0.0)
    s.receive_text(json.dumps({"message": "connection", "data": [None]}), 0.0)
    [reply] = sent(s)
    assert reply["data"][0]["appKey"] == "defaultApp"
    assert reply["data"][0]["mediaProviders"] == ["WebRTC"]


def test_requests_before_connection_are_ignored() -> None:
    s = WcsSession("x", 0.0)
    play(s)
    s.receive_text(frame("availableStream", {"mediaSessionId": "a", "name": "n"}), 0.0)
    assert s.next_event() is None and sent(s) == [] and not s.plays


def test_play_stream_event_and_answer() -> None:
    s = connected()
    play(s, "m1", "call_stream1")
    event = s.next_event()
    assert isinstance(event, PlayRequested)
    assert (event.media_session_id, event.name, event.sdp) == ("m1", "call_stream1", OFFER)
    assert s.plays["m1"].status == "PENDING"
    s.remote_sdp("m1", "v=0 answer")
    s.stream_status("m1", "PLAYING")
    sdp_frame, status = sent(s)
    assert sdp_frame == {"message": "setRemoteSDP", "data": ["m1", "v=0 answer"]}
    assert status["message"] == "notifyStreamStatusEvent"
    body = status["data"][0]
    assert body["mediaSessionId"] == "m1" and body["status"] == "PLAYING"
    assert body["name"] == "call_stream1" and body["published"] is False
    assert body["appKey"] == "myApp"
    assert s.plays["m1"].status == "PLAYING"


def test_play_without_media_session_id_is_a_fail_message() -> None:
    s = connected()
    play(s, msid="")
    [reply] = sent(s)
    assert reply["message"] == "fail"
    assert reply["data"][0]["info"] == "MediaSessionId is null"
    assert s.next_event() is None


def test_play_duplicate_media_session_id_fails() -> None:
    s = connected()
    play(s, "m1")
    s.next_event()
    play(s, "m1")
    [reply] = sent(s)
    assert reply["data"][0]["status"] == "FAILED"
    assert reply["data"][0]["info"] == "MediaSessionId is already in use"
    assert s.next_event() is None
    assert "m1" not in s.plays  # FAILED ends the play


def test_play_without_name_or_sdp_or_with_other_provider_fails() -> None:
    s = connected()
    play(s, "a", name="")
    play(s, "b", sdp="  ")
    play(s, "c", mediaProvider="MSE")
    infos = [(f["data"][0]["mediaSessionId"], f["data"][0]["info"]) for f in sent(s)]
    assert infos == [("a", "Stream not found"), ("b", "Failed by error"), ("c", "Failed by error")]
    # Each refusal is an event too, for the REST hook; no play is requested.
    events = [s.next_event() for _ in range(3)]
    assert events == [
        PlayRefused("a", "", "Stream not found"),
        PlayRefused("b", "stream1", "Failed by error"),
        PlayRefused("c", "stream1", "Failed by error"),
    ]
    assert s.next_event() is None


def test_stop_stream() -> None:
    s = connected()
    play(s, "m1", "n1")
    s.next_event()
    s.receive_text(frame("stopStream", {"mediaSessionId": "m1", "status": "PLAYING"}), 0.0)
    event = s.next_event()
    assert event == StopRequested("m1", "n1")
    s.stream_status("m1", "STOPPED", "Stopped by user")
    [status] = sent(s)
    assert status["data"][0]["status"] == "STOPPED"
    assert status["data"][0]["info"] == "Stopped by user"
    assert status["data"][0]["name"] == "n1"
    assert "m1" not in s.plays


def test_stop_of_unknown_stream_still_reports_the_name_given() -> None:
    s = connected()
    s.receive_text(frame("stopStream", {"mediaSessionId": "zz", "name": "x"}), 0.0)
    assert s.next_event() == StopRequested("zz", "x")
    s.receive_text(frame("stopStream", {"name": "x"}), 0.0)  # no id: nothing to stop
    assert s.next_event() is None


def test_available_stream_uses_strings() -> None:
    s = connected()
    s.receive_text(frame("availableStream", {"mediaSessionId": "a1", "name": "n"}), 0.0)
    assert s.next_event() == AvailabilityRequested("a1", "n")
    s.available("a1", True)
    s.available("a2", False, "Stream not found")
    yes, no = sent(s)
    assert yes == {
        "message": "availableStream",
        "data": [{"id": "a1", "status": "true", "info": None}],
    }
    assert no["data"][0]["status"] == "false"
    assert no["data"][0]["info"] == "Stream not found"


def test_ignored_messages_produce_nothing() -> None:
    s = connected()
    for name in ("pong", "ping", "pushLogs", "sessionDebug", "submitBugReport", "sendStreamEvent"):
        s.receive_text(frame(name, {"x": 1}), 0.0)
    s.receive_text(frame("someFutureMessage", {"x": 1}), 0.0)
    assert s.next_event() is None and sent(s) == [] and s.malformed == 0


def test_keepalive_pings_every_interval() -> None:
    s = connected(now=100.0)
    assert s.get_timer() == 105.0
    s.handle_timer(104.9)  # early: nothing
    assert sent(s) == []
    s.handle_timer(105.0)
    assert sent(s) == [{"message": "ping", "data": []}]
    assert s.get_timer() == 110.0


def test_keepalive_closes_after_missed_pongs() -> None:
    s = WcsSession("x", 0.0, ping_interval=5.0, max_missed=3)
    now = 0.0
    for _ in range(3):
        now = s.get_timer() or 0.0
        s.handle_timer(now)
    assert len(sent(s)) == 3 and s.closed_reason is None
    now = s.get_timer() or 0.0
    s.handle_timer(now)
    assert s.closed_reason == "Terminated by keep-alive"
    assert s.get_timer() is None
    assert sent(s) == []


def test_keepalive_any_frame_counts_as_life() -> None:
    s = WcsSession("x", 0.0, ping_interval=5.0, max_missed=2)
    t = 0.0
    for _ in range(10):
        t = s.get_timer() or 0.0
        s.handle_timer(t)
        s.receive_text(frame("pong"), t + 0.1)
    assert s.closed_reason is None
    assert len(sent(s)) == 10


def test_malformed_frames_are_counted_and_change_nothing() -> None:
    s = connected()
    bad = [
        "not json",
        "[1, 2]",
        '{"data": [1]}',
        '{"message": 5, "data": []}',
        '{"message": "playStream", "data": "x"}',
        '{"message": "playStream"}',
        '{"message": "stopStream", "data": [7]}',
        "[" * 100000,
    ]
    for text in bad:
        s.receive_text(text, 0.0)
    assert s.malformed == len(bad)
    assert s.next_event() is None and sent(s) == [] and not s.plays


def test_oversized_or_nul_names_are_rejected() -> None:
    s = connected()
    play(s, "m1", name="x" * 500)
    play(s, "m\x002", name="n")
    replies = sent(s)
    assert replies[0]["data"][0]["info"] == "Stream not found"
    assert replies[1]["message"] == "fail"  # an id we cannot use is no id
    assert s.next_event() == PlayRefused("m1", "", "Stream not found")
    assert s.next_event() is None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda c: (
                st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4)
            ),
            max_leaves=20,
        ).map(json.dumps),
    )
)
def test_any_input_never_raises(text: str) -> None:
    s = connected()
    s.receive_text(text, 0.0)
    for candidate in ("playStream", "stopStream", "availableStream", "connection"):
        s.receive_text(
            json.dumps({"message": candidate, "data": [json.loads(text) if _json(text) else text]}),
            0.0,
        )
    for f in sent(s):
        assert set(f) == {"message", "data"}


def _json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
