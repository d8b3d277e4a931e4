"""``wcs call --wait-incoming`` and ``wcs calls --watch``: following calls from the shell.

``--wait-incoming`` polls ``/call/find_all`` until a call with ``incoming: true`` that was
not there when it started shows up, then prints that call's events (each status change,
each DTMF key it receives, where its stream plays) until it ends; ``--answer`` answers it
when it rings (``answer = ring``). Exit codes as for ``wcs call``; 5: no incoming call
within ``--timeout``.

``wcs calls --watch`` redraws the call table every ``--interval`` seconds until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from wcs.cli.client import RestClient, ServerUnreachable

EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_TIMEOUT = 0, 1, 4, 5
POLL_S = 0.25
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen

Describe = Callable[[dict[str, Any]], str]
Ended = Callable[[dict[str, Any] | None, bool, TextIO], int]


def _calls(client: RestClient) -> list[dict[str, Any]]:
    code, found = client.post("call/find_all")
    return found if code == 200 and isinstance(found, list) else []


def _current(client: RestClient, call_id: str) -> tuple[dict[str, Any] | None, bool]:
    """The call as the server has it, and whether it is over (then: its final state)."""
    code, found = client.post("call/find", {"callId": call_id})
    if code == 200 and isinstance(found, list) and found:
        return found[0], False
    code, found = client.post("call/find", {"callId": call_id, "finished": True})
    return (found[0] if code == 200 and isinstance(found, list) and found else None), True


def wait_incoming(
    args: argparse.Namespace,
    describe: Describe,
    ended: Ended,
    out: TextIO,
    client: RestClient | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    client = client or RestClient(args.server, args.token)
    try:
        before = {c.get("callId") for c in _calls(client)}
        print("waiting for an incoming call...", file=out, flush=True)
        t0 = clock()
        call: dict[str, Any] | None = None
        while call is None:
            fresh = [c for c in _calls(client) if c.get("incoming")]
            call = next((c for c in fresh if c.get("callId") not in before), None)
            if call is None:
                if clock() - t0 > args.timeout:
                    print(f"no incoming call within {args.timeout:g}s", file=out, flush=True)
                    return EXIT_TIMEOUT
                sleep(POLL_S)
        return _follow(args, client, call, describe, ended, out, clock, sleep)
    except ServerUnreachable as exc:
        print(f"wcs call: cannot reach the server: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return EXIT_OK


def _follow(
    args: argparse.Namespace,
    client: RestClient,
    call: dict[str, Any],
    describe: Describe,
    ended: Ended,
    out: TextIO,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> int:
    call_id = str(call.get("callId"))
    stream = call.get("streamName") or ""
    print(f"incoming call {call_id} from {call.get('caller')} to {call.get('callee')} "
          f"(stream {stream})", file=out, flush=True)  # fmt: skip
    t0 = clock()
    last = ""
    keys = 0
    answered = asked = False
    current: dict[str, Any] | None = call
    while True:
        if current is not None:
            now = clock() - t0
            text = describe(current)
            if text != last:
                print(f"[{now:5.1f}s] {text}", file=out, flush=True)
                last = text
            for key in (current.get("dtmf") or [])[keys:]:
                print(f"[{now:5.1f}s] key {key.get('dtmf')} ({key.get('type')})", file=out,
                      flush=True)  # fmt: skip
            keys = max(keys, len(current.get("dtmf") or []))
            status = current.get("status")
            if status == "ESTABLISHED" and not answered:
                answered = True
                base = args.server.rstrip("/")
                print(f"stream '{stream}' is live: play it at {base}/ or WHEP "
                      f"{base}/whep/{stream}", file=out, flush=True)  # fmt: skip
            if status == "RING" and args.answer and not asked:
                asked = True
                client.post("call/answer", {"callId": call_id})
        current, over = _current(client, call_id)
        if over:
            if current is not None and describe(current) != last:
                print(f"[{clock() - t0:5.1f}s] {describe(current)}", file=out, flush=True)
            return ended(current, answered, out)
        sleep(POLL_S)


def watch_calls(
    args: argparse.Namespace,
    render: Callable[[list[dict[str, Any]], TextIO], None],
    out: TextIO,
    client: RestClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Redraw the call table every ``args.interval`` s (a screen clear on a terminal, a
    time-stamped separator otherwise) until Ctrl-C."""
    client = client or RestClient(args.server, args.token)
    tty = out.isatty()
    try:
        while True:
            calls = _calls(client)
            stamp = time.strftime("%H:%M:%S")
            header = f"{len(calls)} call(s) at {stamp} (Ctrl-C to stop)"
            print(CLEAR + header if tty else f"--- {header}", file=out)
            if calls:
                render(calls, out)
            out.flush()
            sleep(args.interval)
    except ServerUnreachable as exc:
        print(f"wcs calls: cannot reach the server: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return EXIT_OK
