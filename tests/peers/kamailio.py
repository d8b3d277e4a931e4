"""Kamailio registrar + proxy on 127.0.0.1 (or [::1]):<free port>, realm sip.test, digest auth.

Behaviour (kamailio.cfg.in): REGISTER gets 401, other initial requests 407; a wrong
password, unknown user or mismatching auth user gets 403; one contact per user; test
numbers 1486/1603/1404/1480/1503 answer with that code, 1408 rings then 408 after
``noanswer_s``; a known but unregistered user gets 480, an unknown one 404.
"""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.ports import free_port
from tests.peers.procs import (
    PeerError,
    PeerProcess,
    in_netns,
    local_only,
    require_binary,
    tail,
    wait_until,
)
from tests.peers.sipping import sip_options

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "kamailio.cfg.in"
USERS_FILE = HERE / "users.txt"
DEFAULT_MODULE_PATH = "/usr/lib/x86_64-linux-gnu/kamailio/modules"


def load_users(path: Path = USERS_FILE) -> dict[str, str]:
    """``user -> stored password`` from a users.txt style file."""
    users: dict[str, str] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) < 2:
            raise PeerError(f"{path}: user {parts[0]} has no password")
        users[parts[0]] = parts[1]
    return users


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _write_db(dbdir: Path, users: dict[str, str], realm: str) -> None:
    dbdir.mkdir(parents=True, exist_ok=True)
    (dbdir / "version").write_text("table_name(string) table_version(int) \nsubscriber:7\n")
    rows = [
        "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) "
    ]
    for n, (user, password) in enumerate(users.items(), start=1):
        if any(c in user + password for c in ":\\\n"):
            raise PeerError(f"users: ':' and '\\' are not allowed ({user})")
        ha1 = _md5(f"{user}:{realm}:{password}")
        ha1b = _md5(f"{user}@{realm}:{realm}:{password}")
        rows.append(f"{n}:{user}:{realm}:{password}:{ha1}:{ha1b}")
    (dbdir / "subscriber").write_text("\n".join(rows) + "\n")


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _module_path() -> str:
    try:
        out = subprocess.run(["kamailio", "-I"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return DEFAULT_MODULE_PATH
    m = re.search(r"Default paths to modules:\s*(\S+)", out)
    return m.group(1) if m else DEFAULT_MODULE_PATH


@dataclass
class Kamailio:
    """A running Kamailio. ``users`` maps user to the password a client should use."""

    host: str
    port: int
    realm: str
    rundir: Path
    process: PeerProcess
    users: dict[str, str] = field(default_factory=dict)
    start_seconds: float = 0.0
    tls_port: int | None = None  # listening for SIP over TLS (start_kamailio(tls=...))

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.process.log_text()

    def uri(self, user: str) -> str:
        return f"sip:{user}@{self.realm}"

    def password(self, user: str) -> str:
        """The password a client uses: ``secret<user>`` (wrong on purpose for 1099)."""
        return f"secret{user}"

    def ul_dump(self) -> str:
        """``kamcmd ul.dump`` output (location table), empty if kamcmd is unavailable."""
        try:
            res = subprocess.run(
                ["kamcmd", "-s", f"unix:{self.rundir}/kamailio_ctl", "ul.dump"],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return res.stdout if res.returncode == 0 else ""

    def registered(self, user: str) -> bool:
        """Is ``user`` in the location table right now?"""
        dump = self.ul_dump()
        if dump:
            return re.search(rf"\bAoR:\s*{re.escape(user)}\b", dump) is not None
        # kamcmd unusable: fall back to the last REGISTERED line of the log
        lines = [ln for ln in self.log_text().splitlines() if f"REGISTERED sip:{user}@" in ln]
        return bool(lines) and "expires=0" not in lines[-1]

    def contact(self, user: str) -> str | None:
        """Registered contact URI of ``user`` (from ul.dump), None if not registered."""
        dump = self.ul_dump()
        m = re.search(rf"AoR:\s*{re.escape(user)}\b.*?Address:\s*(\S+)", dump, re.S)
        return m.group(1) if m else None

    def stop(self) -> int | None:
        return self.process.stop(grace=10)


def start_kamailio(
    rundir: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    realm: str = "sip.test",
    users_file: Path = USERS_FILE,
    noanswer_s: int = 5,
    fr_timer_ms: int = 5000,
    fr_inv_timer_ms: int = 30000,
    debug: int = 2,
    start_timeout: float = 15.0,
    netns: str | None = None,
    tls: tuple[Path, Path] | None = None,
    contact_as_given: bool = False,
) -> Kamailio:
    """Render the config into ``rundir``, start Kamailio, wait for OPTIONS on UDP and TCP.

    ``netns``: run it in that network namespace (give ``host`` and ``port`` then).
    ``tls``: (certificate, key) files: also listen for SIP over TLS on a free port
    (``Kamailio.tls_port``; needs kamailio-tls-modules). ``contact_as_given``: requests
    to a registered user go to its Contact (a new connection to a TCP/TLS listener), not
    back over the connection its REGISTER came on."""
    require_binary("kamailio", "kamailio")
    if not local_only(host):
        raise PeerError(f"refusing non-loopback address {host}")
    rundir.mkdir(parents=True, exist_ok=True)
    rundir = rundir.resolve()
    users = load_users(users_file)
    _write_db(rundir / "db", users, realm)
    tokens = {
        "LISTEN_IP": f"[{host}]" if ":" in host else host,  # Kamailio wants [v6]:port
        "REALM": realm,
        "RUNDIR": str(rundir),
        "DBDIR": str(rundir / "db"),
        "MPATH": _module_path(),
        "DEBUG": str(debug),
        "NOANSWER_S": str(noanswer_s),
        "FR_TIMER_MS": str(fr_timer_ms),
        "FR_INV_TIMER_MS": str(fr_inv_timer_ms),
        "TLS_DEFINE": "#!define WITH_TLS" if tls else "# TLS off",
        "CONTACT_DEFINE": "#!define CONTACT_AS_GIVEN" if contact_as_given else "# received",
    }
    if tls is not None:
        (rundir / "tls.cfg").write_text(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
            f"require_certificate = no\ncertificate = {tls[0]}\nprivate_key = {tls[1]}\n\n"
            "[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
            "require_certificate = no\n"
        )
    last_error: PeerError | None = None
    # a port picked free can be taken before Kamailio binds it: retry with a new one
    for _attempt in range(3):
        sip_port = port if port is not None else free_port(host)
        tls_port = free_port(host) if tls is not None else 0
        cfg = TEMPLATE.read_text()
        for name, value in {
            **tokens,
            "SIP_PORT": str(sip_port),
            "SIP_TLS_PORT": str(tls_port),
        }.items():
            cfg = cfg.replace(f"@@{name}@@", value)
        cfg_path = rundir / "kamailio.cfg"
        cfg_path.write_text(cfg)
        check = subprocess.run(
            in_netns(["kamailio", "-c", "-f", str(cfg_path), "-Y", str(rundir)], netns),
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check.returncode != 0:
            raise PeerError(f"kamailio config check failed ({cfg_path}):\n{check.stderr[-2000:]}")
        log = rundir / "kamailio.log"
        if log.exists():
            log.replace(rundir / "kamailio.log.old")
        t0 = time.monotonic()
        # -DD: foreground, so the PID we hold is the main process; -E: log to stderr
        proc = PeerProcess(
            "kamailio",
            in_netns(
                [
                    "kamailio",
                    "-DD",
                    "-E",
                    "-f",
                    str(cfg_path),
                    "-Y",
                    str(rundir),
                    "-w",
                    str(rundir),
                    "-m",
                    "64",
                    "-M",
                    "8",
                ],
                netns,
            ),
            log,
            cwd=rundir,
        )
        ok = {"udp": False, "tcp": False, "tls": tls is None}

        def ready(
            sip_port: int = sip_port, tls_port: int = tls_port, ok: dict[str, bool] = ok
        ) -> bool:
            for transport in ok:
                if not ok[transport]:
                    if transport == "tls":
                        ok[transport] = _accepts(host, tls_port)
                    else:
                        ok[transport] = sip_options(host, sip_port, transport, 0.5) is not None
            return all(ok.values())

        try:
            wait_until(ready, start_timeout, "kamailio start", alive=proc.alive, interval=0.05)
        except PeerError as exc:
            proc.stop(grace=3)
            text = tail(log)
            last_error = PeerError(f"{exc} (port {sip_port}, {ok}); log:\n{text}")
            if port is None and "already in use" in text.lower():
                continue
            raise last_error from None
        return Kamailio(
            host,
            sip_port,
            realm,
            rundir,
            proc,
            {u: f"secret{u}" for u in users},
            time.monotonic() - t0,
            tls_port or None,
        )
    assert last_error is not None
    raise last_error
