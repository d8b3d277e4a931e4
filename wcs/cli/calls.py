"""``wcs call``, ``wcs calls``, ``wcs streams``: the REST API for people.

``wcs call`` starts a call, shows each status as it changes (polling ``/call/find``) and
exits with a status that scripts can test:

  0  ESTABLISHED (and, with --hangup-after or --wait, ended normally afterwards)

``--dtmf 1234#`` sends keys once the call is ESTABLISHED (after ``--dtmf-delay`` seconds):
joining a conference bridge or an IVR from the shell. A refusal exits 2.

``--wait-incoming`` (instead of ``--callee``) waits for the next incoming call and prints its
events until it ends (:mod:`wcs.cli.watch`); ``wcs calls --watch`` keeps the list live.

  1  FAILED, or the call ended before it was answered
  2  the server refused the request (400/409: the message names the field)
  3  BUSY
  4  the server could not be reached
  5  no answer within --timeout (the call is hung up)
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from typing import Any, TextIO

from wcs.cli import watch
from wcs.cli.client import RestClient, ServerUnreachable, add_server_options, error_text
from wcs.media.dtmf import DtmfError, parse_digits

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_BUSY, EXIT_UNREACHABLE, EXIT_TIMEOUT = range(6)
POLL_S = 0.25


def add_parsers(sub: Any) -> None:
    call = sub.add_parser(
        "call",
        help="place a SIP call into a stream and follow it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    call.add_argument("--callee", help="user or sip: URI ('demo': the demo)")
    call.add_argument(
        "--wait-incoming",
        action="store_true",
        help="place no call: wait for the next incoming call, print its events "
        "until it ends (--timeout: how long to wait for it)",
    )
    call.add_argument(
        "--answer",
        action="store_true",
        help="--wait-incoming: answer the call when it rings (answer = ring)",
    )
    call.add_argument("--to-stream", help="stream name (default: the call id)")
    call.add_argument("--call-id", help="default: a random one")
    call.add_argument("--sip-login", help="SIP account user")
    call.add_argument("--sip-auth-name", help="digest user name, when not the login")
    call.add_argument("--sip-password", help="default $WCS_SIP_PASSWORD (keeps it out of "
                      "the shell history)")  # fmt: skip
    call.add_argument("--sip-domain", help="SIP domain of the account")
    call.add_argument("--sip-proxy", help="outbound proxy host")
    call.add_argument("--sip-port", type=int, help="port of the domain/proxy (5060)")
    call.add_argument("--sip-transport", choices=["UDP", "TCP"], help="default UDP")
    call.add_argument("--register", action="store_true", help="REGISTER before calling")
    call.add_argument("--rtmp-url", help="also republish to this RTMP URL")
    call.add_argument("--audio-only", action="store_true", help="no video m-line")
    call.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for an "
                      "answer (default 60)")  # fmt: skip
    call.add_argument("--dtmf", help="keys (0-9*#A-D) to send once the call is established")
    call.add_argument(
        "--dtmf-delay",
        type=float,
        default=0.0,
        help="seconds to wait after the answer before sending --dtmf",
    )
    call.add_argument(
        "--dtmf-type",
        choices=["RFC2833", "INFO", "INFO_RELAY"],
        default="RFC2833",
        help="how to send --dtmf (default RFC2833)",
    )
    end = call.add_mutually_exclusive_group()
    end.add_argument("--hangup-after", type=float, help="hang up N seconds after the answer")
    end.add_argument("--wait", action="store_true",
                     help="stay until the call ends (Ctrl-C hangs up)")  # fmt: skip
    add_server_options(call)
    call.set_defaults(handler=run_call)

    calls = sub.add_parser("calls", help="list the calls")
    calls.add_argument("--watch", action="store_true", help="redraw the list until Ctrl-C")
    calls.add_argument("--interval", type=float, default=2.0,
                       help="--watch: seconds between refreshes (default 2)")  # fmt: skip
    add_server_options(calls)
    calls.set_defaults(handler=run_calls)
    streams = sub.add_parser("streams", help="list the streams and viewers")
    add_server_options(streams)
    streams.set_defaults(handler=run_streams)


def call_body(args: argparse.Namespace, call_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callId": call_id,
        "callee": args.callee,
        "toStream": args.to_stream or call_id,
        "hasAudio": True,
        "hasVideo": not args.audio_only,
    }
    password = args.sip_password or os.environ.get("WCS_SIP_PASSWORD")
    optional = {
        "sipLogin": args.sip_login,
        "sipAuthenticationName": args.sip_auth_name,
        "sipPassword": password,
        "sipDomain": args.sip_domain,
        "sipOutboundProxy": args.sip_proxy,
        "sipPort": args.sip_port,
        "sipTransport": args.sip_transport,
        "rtmpUrl": args.rtmp_url,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if args.register:
        body["sipRegisterRequired"] = True
    return body


def _describe(call: dict[str, Any]) -> str:
    status = call.get("status", "?")
    sip = call.get("sipStatus")
    info = call.get("info")
    detail = " ".join(str(x) for x in (sip, info) if x not in (None, ""))
    return f"{status} ({detail})" if detail else str(status)


def run_call(args: argparse.Namespace, out: TextIO | None = None,
             clock: Any = time.monotonic, sleep: Any = time.sleep) -> int:  # fmt: skip
    out = out or sys.stdout
    if args.wait_incoming:
        return watch.wait_incoming(args, _describe, _ended, out, clock=clock, sleep=sleep)
    if not args.callee:
        print("wcs call: --callee or --wait-incoming is required", file=sys.stderr)
        return EXIT_REFUSED
    client = RestClient(args.server, args.token)
    call_id = args.call_id or "cli-" + secrets.token_hex(4)
    body = call_body(args, call_id)
    stream = body["toStream"]
    if args.dtmf:
        try:
            parse_digits(args.dtmf)  # refused before any call is placed
        except DtmfError as exc:
            print(f"wcs call: --dtmf: {exc}", file=sys.stderr)
            return EXIT_REFUSED
    try:
        status, answer = client.post("call/startup", body)
    except ServerUnreachable as exc:
        print(f"wcs call: cannot reach the server: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if status != 200:
        print(f"wcs call: refused ({status}): {error_text(answer)}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"calling {args.callee} (call {call_id}, stream {stream})", file=out, flush=True)
    t0 = clock()
    last: dict[str, Any] | None = None
    established_at: float | None = None
    try:
        while True:
            try:
                code, found = client.post("call/find", {"callId": call_id})
            except ServerUnreachable as exc:
                print(f"wcs call: lost the server: {exc}", file=sys.stderr)
                return EXIT_UNREACHABLE
            now = clock()
            if code == 404:  # a finished call leaves the live list at once: ask for its end
                code, found = client.post("call/find", {"callId": call_id, "finished": True})
                if code == 200 and isinstance(found, list) and found:
                    final = found[0]
                    if last is None or _describe(final) != _describe(last):
                        print(f"[{now - t0:5.1f}s] {_describe(final)}", file=out, flush=True)
                    last = final
                return _ended(last, established_at is not None, out)
            current = found[0] if code == 200 and isinstance(found, list) and found else None
            if current is not None and (last is None or _describe(current) != _describe(last)):
                print(f"[{now - t0:5.1f}s] {_describe(current)}", file=out, flush=True)
                last = current
                if current.get("status") == "ESTABLISHED" and established_at is None:
                    established_at = now
                    print(f"stream '{stream}' is live: play it at {args.server.rstrip('/')}/ "
                          f"or WHEP {args.server.rstrip('/')}/whep/{stream}",
                          file=out, flush=True)  # fmt: skip
                    if not args.wait and args.hangup_after is None and not args.dtmf:
                        return EXIT_OK
                if current.get("status") in ("FAILED", "BUSY", "FINISH"):
                    return _ended(current, established_at is not None, out)
            if (args.dtmf and established_at is not None
                    and now - established_at >= args.dtmf_delay):  # fmt: skip
                dtmf = {"callId": call_id, "dtmf": args.dtmf, "type": args.dtmf_type}
                code, answer = client.post("call/send_dtmf", dtmf)
                if code != 200:
                    print(f"wcs call: DTMF refused ({code}): {error_text(answer)}",
                          file=sys.stderr)  # fmt: skip
                    client.post("call/terminate", {"callId": call_id})
                    return EXIT_REFUSED
                print(f"sent DTMF {args.dtmf}", file=out, flush=True)
                args.dtmf = None
                if not args.wait and args.hangup_after is None:
                    return EXIT_OK
            if established_at is None and now - t0 > args.timeout:
                print(f"no answer within {args.timeout:g}s: hanging up", file=out, flush=True)
                client.post("call/terminate", {"callId": call_id})
                return EXIT_TIMEOUT
            if (args.hangup_after is not None and established_at is not None
                    and now - established_at >= args.hangup_after):  # fmt: skip
                print("hanging up", file=out, flush=True)
                client.post("call/terminate", {"callId": call_id})
                args.hangup_after = None
                args.wait = True  # then follow it to its end
            sleep(POLL_S)
    except KeyboardInterrupt:
        print("\nhanging up", file=out, flush=True)
        client.post("call/terminate", {"callId": call_id})
        return EXIT_OK if established_at is not None else EXIT_FAILED


def _ended(last: dict[str, Any] | None, answered: bool, out: TextIO) -> int:
    status = last.get("status") if last else None
    if status == "BUSY":
        print(f"busy: {_describe(last or {})}", file=out)
        return EXIT_BUSY
    if status == "FAILED" or not answered:
        print(f"call failed: {_describe(last) if last else 'ended before any status'}",
              file=out)  # fmt: skip
        return EXIT_FAILED
    print("call ended", file=out)
    return EXIT_OK


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _list(args: argparse.Namespace, path: str, what: str, out: TextIO) -> tuple[int, Any]:
    try:
        status, found = RestClient(args.server, args.token).post(path)
    except ServerUnreachable as exc:
        print(f"wcs: cannot reach the server: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE, None
    if status == 404:
        print(f"no {what}", file=out)
        return EXIT_OK, None
    if status != 200:
        print(f"wcs: {status}: {error_text(found)}", file=sys.stderr)
        return EXIT_REFUSED, None
    return EXIT_OK, found


def run_calls(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.watch:
        return watch.watch_calls(args, calls_table, out)
    code, found = _list(args, "call/find_all", "calls", out)
    if found:
        calls_table(found, out)
    return code


def calls_table(found: list[dict[str, Any]], out: TextIO) -> None:
    rows = [["CALL ID", "STATUS", "SIP", "CALLEE", "CALLER", "DIR", "STREAM", "INFO"]]
    for c in found:
        rows.append([str(c.get("callId")), str(c.get("status")), str(c.get("sipStatus") or ""),
                     str(c.get("callee")), str(c.get("caller") or ""),
                     "in" if c.get("incoming") else "out", str(c.get("streamName") or ""),
                     str(c.get("info") or "")])  # fmt: skip
    _table(rows, out)


def run_streams(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    code, found = _list(args, "stream/find_all", "streams", out)
    if found:
        rows = [["NAME", "STATUS", "KIND", "CODECS", "SIZE", "PACKETS", "LOST", "CALL ID"]]
        for s in found:
            kind = "publisher" if s.get("published") else "viewer"
            codecs = "/".join(str(c) for c in (s.get("videoCodec"), s.get("audioCodec")) if c)
            size = f"{s.get('width')}x{s.get('height')}" if s.get("width") else ""
            rows.append([str(s.get("name")), str(s.get("status")), kind, codecs, size,
                         str(s.get("packetsReceived", "")), str(s.get("packetsLost", "")),
                         str(s.get("callId") or "")])  # fmt: skip
        _table(rows, out)
    return code
