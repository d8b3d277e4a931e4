"""``wcs call --wait-incoming`` and ``wcs calls --watch`` against a scripted REST client."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from wcs.cli import calls as cli_calls
from wcs.cli import watch
from wcs.cli.client import ServerUnreachable
from wcs.cli.main import build_parser


class FakeClient:
    """Answers /call/find_all and /call/find from a script of call states, one per poll."""

    def __init__(self, states: list[list[dict[str, Any]]], finished: dict[str, Any]) -> None:
        self.states = states
        self.finished = finished
        self.polls = 0
        self.posted: list[tuple[str, dict[str, Any]]] = []

    def now(self) -> list[dict[str, Any]]:
        return self.states[min(self.polls, len(self.states) - 1)]

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        body = body or {}
        self.posted.append((path, body))
        if path == "call/find_all":
            return (200, self.now()) if self.now() else (404, {"error": "no calls"})
        if path == "call/find":
            if body.get("finished"):
                found = self.finished.get(body["callId"])
                return (200, [found]) if found else (404, None)
            live = [c for c in self.now() if c["callId"] == body["callId"]]
            return (200, live) if live else (404, None)
        return 200, None


def call(status: str, cid: str = "in-1", **extra: Any) -> dict[str, Any]:
    base = {"callId": cid, "incoming": True, "caller": "1001", "callee": "1003",
            "streamName": "door", "status": status, "sipStatus": None, "info": None,
            "dtmf": []}  # fmt: skip
    base.update(extra)
    return base


def ticking(client: FakeClient) -> Callable[[float], None]:
    def sleep(_s: float) -> None:
        client.polls += 1

    return sleep


def wait(client: FakeClient, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["call", "--wait-incoming", "--timeout", "5", *argv])
    out = io.StringIO()
    clock = iter(float(i) for i in range(1000))
    code = watch.wait_incoming(args, cli_calls._describe, cli_calls._ended, out,
                               client=client,  # type: ignore[arg-type]
                               clock=lambda: next(clock), sleep=ticking(client))  # fmt: skip
    return code, out.getvalue()


def test_wait_incoming_ignores_calls_already_there_and_follows_the_new_one() -> None:
    old = call("ESTABLISHED", cid="in-0")
    key = {"dtmf": "5", "type": "RFC2833", "duration": 100, "time": 0}
    client = FakeClient(
        [
            [old],
            [old],
            [old, call("RING", sipStatus=180, info="Ringing")],
            [old, call("ESTABLISHED", sipStatus=200, info="OK")],
            [old, call("ESTABLISHED", sipStatus=200, info="OK", dtmf=[key])],
            [old],
        ],
        {"in-1": call("FINISH", sipStatus=200, info="Normal call clearing")},
    )
    code, out = wait(client)
    lines = out.splitlines()
    assert code == 0, out
    assert lines[0] == "waiting for an incoming call..."
    assert lines[1] == "incoming call in-1 from 1001 to 1003 (stream door)"
    assert [ln.split("] ", 1)[1] for ln in lines if ln.startswith("[")] == [
        "RING (180 Ringing)",
        "ESTABLISHED (200 OK)",
        "key 5 (RFC2833)",
        "FINISH (200 Normal call clearing)",
    ]
    assert "whep/door" in out and lines[-1] == "call ended"
    assert ("call/answer", {"callId": "in-1"}) not in client.posted


def test_wait_incoming_answers_when_asked_and_reports_a_failure() -> None:
    client = FakeClient(
        [[], [call("RING")], [call("RING")], []],
        {"in-1": call("FAILED", info="Wrong PIN")},
    )
    code, out = wait(client, "--answer")
    assert code == 1
    assert ("call/answer", {"callId": "in-1"}) in client.posted
    assert out.splitlines()[-1] == "call failed: FAILED (Wrong PIN)"


def test_wait_incoming_times_out() -> None:
    code, out = wait(FakeClient([[]], {}))
    assert code == 5
    assert out.splitlines()[-1] == "no incoming call within 5s"


def test_call_needs_a_callee_or_wait_incoming(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["call"])
    assert cli_calls.run_call(args, io.StringIO()) == 2
    assert "--callee or --wait-incoming" in capsys.readouterr().err


def test_calls_watch_redraws_until_ctrl_c() -> None:
    client = FakeClient([[call("RING")], [call("ESTABLISHED")], []], {})
    args = build_parser().parse_args(["calls", "--watch", "--interval", "0.5"])
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        client.polls += 1
        if client.polls == 3:
            raise KeyboardInterrupt

    out = io.StringIO()
    code = watch.watch_calls(args, cli_calls.calls_table, out, client=client,  # type: ignore[arg-type]
                             sleep=sleep)  # fmt: skip
    assert code == 0 and waits == [0.5, 0.5, 0.5]
    frames = out.getvalue().split("--- ")[1:]
    assert [f.splitlines()[0].split(" at ")[0] for f in frames] == ["1 call(s)", "1 call(s)",
                                                                   "0 call(s)"]  # fmt: skip
    assert "RING" in frames[0] and "ESTABLISHED" in frames[1]


def test_calls_watch_unreachable_server() -> None:
    class Down:
        def post(self, path: str, body: Any = None) -> Any:
            raise ServerUnreachable("refused")

    args = build_parser().parse_args(["calls", "--watch"])
    out = io.StringIO()
    assert watch.watch_calls(args, cli_calls.calls_table, out, client=Down()) == 4  # type: ignore[arg-type]
