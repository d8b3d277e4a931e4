#!/usr/bin/env python3
"""Talk to baresip 1.0.0 through its ctrl_tcp module (JSON messages in netstrings).

Standard library only, so it also runs as a script:

  baresip_ctrl.py --port P cmd listcalls        one command, print the reply
  baresip_ctrl.py --port P agent --mode busy|answer|noanswer [--delay S]
                  [--ready-file F] [--baresip-pid PID]

The agent holds baresip's ctrl_tcp connection for a callee and decides each incoming
call: ``answer`` accepts after ``--delay`` seconds, ``busy`` rejects it (baresip answers
486), ``noanswer`` lets it ring. ctrl_tcp does not queue events, so a call arriving
before baresip has accepted the connection would never be announced: the agent first
sends ``listcalls``, handles calls already ringing in the reply, and only then writes
the ready file the starter waits for. ctrl_tcp serves one client at a time; when another
client takes over, the agent reconnects after 1 s and re-syncs the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import sys
import threading
import time
from typing import Any


class CtrlError(RuntimeError):
    """ctrl_tcp unreachable or silent."""


class Ctrl:
    """One ctrl_tcp connection."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        if not (host.startswith(("127.", "203.0.113.")) or host == "::1"):  # netem link
            raise CtrlError(f"refusing non-loopback address {host}")
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=2)
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise CtrlError(f"cannot connect to ctrl_tcp {host}:{port}: {exc}") from None
                time.sleep(0.1)
        self.buf = b""
        self.eof = False
        self.lock = threading.Lock()
        self.token = 0

    def __enter__(self) -> Ctrl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, command: str, params: str | None = None) -> str:
        with self.lock:
            self.token += 1
            token = str(self.token)
            msg: dict[str, str] = {"command": command, "token": token}
            if params:
                msg["params"] = params
            data = json.dumps(msg).encode()
            self.sock.sendall(b"%d:%s," % (len(data), data))
        return token

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Next message (event or response); None on timeout or end of stream."""
        self.sock.settimeout(timeout)
        try:
            while True:
                colon = self.buf.find(b":")
                if colon > 0:
                    size = int(self.buf[:colon])
                    end = colon + 1 + size
                    if len(self.buf) > end:
                        payload = self.buf[colon + 1 : end]
                        self.buf = self.buf[end + 1 :]
                        msg: dict[str, Any] = json.loads(payload.decode(errors="replace"))
                        return msg
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.eof = True
                    return None
                self.buf += chunk
        except TimeoutError:
            return None
        finally:
            self.sock.settimeout(None)

    def command(self, command: str, params: str | None = None, timeout: float = 5.0) -> str:
        """Send a command and return its reply text; CtrlError when it fails or times out."""
        token = self.send(command, params)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.recv(timeout=left)
            if msg is None:
                if self.eof:
                    break
                continue
            if msg.get("response") and msg.get("token") == token:
                if not msg.get("ok", False):
                    raise CtrlError(f"{command} failed: {msg.get('data', '')}")
                return str(msg.get("data", ""))
        raise CtrlError(f"no reply to {command}")


def log(*parts: object) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


# a line of the listcalls reply per call, e.g. "> [line 1]  0:00:02   INCOMING   sip:..."
_INCOMING = re.compile(r"\[line \d+\].*\sINCOMING\s")


def _pid_alive(pid: int) -> bool:
    if not pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Agent:
    def __init__(self, mode: str, delay: float, ready_file: str, connect_timeout: float) -> None:
        self.mode = mode
        self.delay = delay
        self.ready_file = ready_file
        self.connect_timeout = connect_timeout
        self.conn: Ctrl | None = None
        self.ready = False
        self.shutdown = False

    def _send(self, conn: Ctrl, command: str) -> bool:
        # after a reconnect the re-sync handles the calls still ringing
        if conn is not self.conn:
            log(f"agent: connection replaced, {command} left to the re-sync")
            return False
        try:
            conn.send(command)
        except OSError as exc:
            log(f"agent: cannot send {command}: {exc}")
            return False
        return True

    def incoming(self, conn: Ctrl, why: str) -> None:
        if self.mode == "busy":
            if self._send(conn, "hangup"):  # hangup of an unanswered incoming call -> 486
                log(f"agent: rejected (486){why}")
        elif self.mode == "answer":

            def later() -> None:
                time.sleep(self.delay)
                if self._send(conn, "accept"):
                    log(f"agent: accepted after {self.delay:.1f}s{why}")

            threading.Thread(target=later, daemon=True).start()
        # noanswer: nothing; the call rings until the caller or the proxy gives up

    def _set_ready(self) -> None:
        if self.ready:
            return
        self.ready = True
        if self.ready_file:
            tmp = self.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(tmp, self.ready_file)

    def session(self, conn: Ctrl) -> bool:
        """Serve one connection until it closes; False if baresip never answered listcalls."""
        self.conn = conn
        try:
            sync = conn.send("listcalls")
        except OSError as exc:
            log(f"agent: cannot send listcalls: {exc}")
            return True
        sync_deadline = time.monotonic() + self.connect_timeout
        synced = False
        while True:
            try:
                if synced:
                    msg = conn.recv()
                else:
                    left = sync_deadline - time.monotonic()
                    msg = conn.recv(timeout=max(0.05, left)) if left > 0 else None
            except OSError as exc:
                log(f"agent: {exc}")
                conn.eof, msg = True, None
            if msg is None:
                if not synced and not conn.eof:
                    log("agent: no reply to listcalls (is this port baresip's ctrl_tcp?)")
                    return False
                return True
            if msg.get("response"):
                if not synced and msg.get("token") == sync:
                    synced = True
                    waiting = [
                        ln.strip()
                        for ln in str(msg.get("data", "")).splitlines()
                        if _INCOMING.search(ln)
                    ]
                    log(f"agent: synced with baresip ({len(waiting)} call(s) already ringing)")
                    for line in waiting:
                        log(f"agent: already ringing: {line}")
                        self.incoming(conn, " (rang before the agent was connected)")
                    self._set_ready()
                elif not msg.get("ok", True):
                    log(f"agent: command failed: {msg.get('data', '')}")
                continue
            if not msg.get("event"):
                continue
            kind = msg.get("type")
            log(f"event {kind} {msg.get('peeruri', '')} {msg.get('param', '')}")
            if kind in ("SHUTDOWN", "EXIT"):
                self.shutdown = True
            # before the sync reply, listcalls will report a call that still rings
            if kind == "CALL_INCOMING" and synced:
                self.incoming(conn, "")


def run_agent(
    host: str,
    port: int,
    mode: str,
    delay: float,
    ready_file: str,
    baresip_pid: int,
    connect_timeout: float,
) -> int:
    log(f"agent: mode={mode} delay={delay:.1f}s")
    agent = Agent(mode, delay, ready_file, connect_timeout)
    conn: Ctrl | None = Ctrl(host, port, connect_timeout)
    while True:
        assert conn is not None
        answered = agent.session(conn)
        agent.conn = None
        conn.close()
        if not answered:
            return 1
        if agent.shutdown or not _pid_alive(baresip_pid):
            log("agent: baresip is shutting down")
            return 0
        log("agent: connection closed (another client took ctrl_tcp?); reconnecting in 1 s")
        time.sleep(1.0)
        deadline = time.monotonic() + connect_timeout
        conn = None
        while conn is None:
            if not _pid_alive(baresip_pid):
                log("agent: baresip has exited")
                return 0
            try:
                conn = Ctrl(host, port, 0)
            except CtrlError as exc:
                if time.monotonic() > deadline:
                    log(f"agent: {exc}")
                    return 1
                time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("cmd")
    p.add_argument("command")
    p.add_argument("--timeout", type=float, default=5.0)
    p = sub.add_parser("agent")
    p.add_argument("--mode", choices=("answer", "busy", "noanswer"), default="answer")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--ready-file", default="")
    p.add_argument("--baresip-pid", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        if a.what == "cmd":
            cmd, _, params = a.command.partition(" ")
            with Ctrl(a.host, a.port, a.connect_timeout) as c:
                print(c.command(cmd, params or None, a.timeout))
            return 0
        return run_agent(
            a.host, a.port, a.mode, a.delay, a.ready_file, a.baresip_pid, a.connect_timeout
        )
    except CtrlError as exc:
        print(f"baresip_ctrl: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
