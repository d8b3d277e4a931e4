"""pytest plugin: record what every sans-IO protocol core emits, per test, to prove a refactor
changed no behaviour (issue 11).

Load it with ``PYTHONPATH=conformance/equivalence pytest -p eqrec --eqrec-dir DIR`` (or
``EQREC_DIR=DIR``). For each test it writes ``DIR/<test id>.txt``: per core instance
(numbered per class in order of first use), what went out (datagrams / stream data with
destinations), every change of the armed timer (``get_timer()`` read after each call into
the core, relative to the ``now`` of the last input) and every event returned by
``next_event()``, rendered canonically. ``DIR/_summary.json`` has the totals.
``compare_dumps.py`` diffs two such directories.

The plugin only wraps methods on the core classes; it never edits wcs. It accepts the old and
the new names of the contract (``CORES`` below), and finds each class under any of several
module paths and class names, so the same file records the tree before and after a refactor.

Determinism: during each test ``secrets``, ``random``, ``uuid.uuid4`` and ``os.urandom`` draw
from one generator seeded per test, so tags, branches, Call-IDs, SSRCs and RTMP handshake
bytes repeat. What cannot repeat is left out (see ``render_dtls`` and ``mask_rtcp``).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import importlib
import inspect
import json
import os
import random
import re
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# --------------------------------------------------------------------------- the core table


@dataclasses.dataclass(frozen=True)
class CoreSpec:
    name: str  # canonical name used in the dump
    candidates: tuple[tuple[str, str], ...]  # (module, class) tried in order; all found are wrapped
    render_out: str  # how one output item is rendered: "datagram", "dtls", "rtp", "text", "stream"
    redact_event_bytes: bool = False  # events carry crypto-random bytes (DTLS keys)


# Output methods (old and new names). A method returning a list yields one line per item; a
# stream method returning bytes is accumulated and written in blocks (drain-time independent).
OUTPUT_METHODS = ("datagrams_to_send", "data_to_send", "rtcp_datagrams_to_send")
TIMER_METHODS = ("get_timer", "next_timer")
EVENT_METHODS = ("next_event",)
# Old RtpSession: output collects in these list attributes, drained by the owner.
OUTPUT_LISTS = ("rtp_out", "rtcp_out")
NOT_INPUTS = set(OUTPUT_METHODS) | set(TIMER_METHODS) | set(EVENT_METHODS)

CORES: tuple[CoreSpec, ...] = (
    CoreSpec(
        "sip_ua",
        (
            ("wcs.sip.ua", "UserAgent"),
            ("wcs.sip.user_agent", "UserAgent"),
            ("wcs.sip", "UserAgent"),
            ("wcs.sip.ua", "SipUserAgent"),
            ("wcs.sip.core", "UserAgent"),
        ),
        "datagram",
    ),
    CoreSpec(
        "rtp_session",
        (
            ("wcs.rtp.session", "RtpSession"),
            ("wcs.rtp", "RtpSession"),
            ("wcs.rtp.core", "RtpSession"),
        ),
        "rtp",
    ),
    CoreSpec(
        "dtls",
        (
            ("wcs.webrtc.dtls", "DtlsSession"),
            ("wcs.webrtc", "DtlsSession"),
            ("wcs.webrtc.dtls", "DtlsConnection"),
        ),
        "dtls",
        redact_event_bytes=True,
    ),
    CoreSpec(
        "rtmp",
        (
            ("wcs.rtmp.connection", "RtmpClientConnection"),
            ("wcs.rtmp", "RtmpClientConnection"),
            ("wcs.rtmp.connection", "RtmpConnection"),
        ),
        "stream",
    ),
    CoreSpec(
        "ws_signaling",
        (
            ("wcs.webrtc.signaling", "WcsSession"),
            ("wcs.webrtc", "WcsSession"),
            ("wcs.webrtc.signaling", "SignalingSession"),
            ("wcs.rest.signaling", "WcsSession"),
        ),
        "text",
    ),
    CoreSpec(
        "demo_uas",
        (
            ("wcs.demo.uas", "DemoUas"),
            ("wcs.demo", "DemoUas"),
            ("wcs.demo.uas", "DemoUAS"),
            ("wcs.demo.answerer", "DemoAnswerer"),
        ),
        "datagram",
    ),
)

# --------------------------------------------------------------------------- rendering

_ADDR_RE = re.compile(r" at 0x[0-9a-fA-F]+")


def _short_bytes(b: bytes, limit: int = 64) -> str:
    if len(b) <= limit:
        return "h:" + b.hex()
    return f"b{len(b)}:{hashlib.sha256(b).hexdigest()[:16]}"


GENERATED = "# generated inputs (hypothesis)\n"


def canon(obj: Any, redact_bytes: bool = False, depth: int = 0) -> str:
    """A stable text for an event: class name + fields, recursively; no object addresses."""
    if depth > 6:
        return "…"
    if obj is None or isinstance(obj, (bool, int)):
        return repr(obj)
    if isinstance(obj, float):
        return repr(round(obj, 6))
    if isinstance(obj, str):
        return json.dumps(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
        return f"<{len(b)} bytes>" if redact_bytes else _short_bytes(b)
    if isinstance(obj, enum.Enum):
        return f"{type(obj).__name__}.{obj.name}"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # by name: the declaration order of an event's fields is not behaviour
        fields = ", ".join(
            f"{f.name}={canon(getattr(obj, f.name), redact_bytes, depth + 1)}"
            for f in sorted(dataclasses.fields(obj), key=lambda f: f.name)
        )
        return f"{type(obj).__name__}({fields})"
    if isinstance(obj, (list, tuple)):
        inner = ", ".join(canon(x, redact_bytes, depth + 1) for x in obj)
        return f"[{inner}]" if isinstance(obj, list) else f"({inner})"
    if isinstance(obj, dict):
        items = sorted(
            (canon(k, redact_bytes, depth + 1), canon(v, redact_bytes, depth + 1))
            for k, v in obj.items()
        )
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(obj, (set, frozenset)):
        return "{" + ", ".join(sorted(canon(x, redact_bytes, depth + 1) for x in obj)) + "}"
    # A plain object (e.g. a call handle inside an event): its class name only, never id().
    return f"<{type(obj).__name__}>"


# Tests with real loopback sockets get ephemeral ports (Linux: 32768-60999) from the
# kernel; those differ per run, so they are written as <port> (in text and destinations).
_LOOPBACK = r"(127\.0\.0\.1|localhost|\[::1\])"
_EPHEMERAL = r"(3[2-9]\d{3}|[4-6]\d{4})(?!\d)"
_PORT_RE = re.compile(_LOOPBACK + ":" + _EPHEMERAL)
_PORT_RE_B = re.compile((_LOOPBACK + ":" + _EPHEMERAL).encode())


_RPORT_RE_B = re.compile(rb"(rport=|received=[^;\s]*;rport=)" + _EPHEMERAL.encode())


# SDP from tests with real media sockets: m= lines, a=rtcp and loopback candidates.
_SDP_PORT_RE_B = re.compile(rb"(m=[a-z]+ |a=rtcp:|127\.0\.0\.1 |::1 |rport )" + _EPHEMERAL.encode())


# The DTLS certificate is a fresh key pair per server/test: its SDP fingerprint is random.
_FINGERPRINT_RE_B = re.compile(rb"(a=fingerprint:[A-Za-z0-9-]+ )(?:[0-9A-Fa-f]{2}:)+[0-9A-Fa-f]{2}")


def norm_ports(b: bytes) -> bytes:
    """Runtime ports and certificate fingerprints out of text (SIP, SDP, RTMP tcUrl)."""
    b = _FINGERPRINT_RE_B.sub(rb"\1<fingerprint>", b)
    b = _PORT_RE_B.sub(rb"\1:<port>", b)
    b = _SDP_PORT_RE_B.sub(rb"\1<port>", b)
    return _RPORT_RE_B.sub(rb"\1<port>", b)


def _addr(a: Any) -> Any:
    if isinstance(a, tuple):
        if (
            len(a) >= 2
            and a[0] in ("127.0.0.1", "localhost", "::1")
            and isinstance(a[1], int)
            and 32768 <= a[1] <= 65535
        ):
            a = (a[0], "<port>", *a[2:])
        return [_addr(x) for x in a]
    return a if isinstance(a, (str, int, type(None))) else repr(a)


def _split_item(item: Any) -> tuple[bytes | str, list[Any]]:
    """An output item is bytes/str or (payload, address, [transport…]).

    (data, (host, port), transport) and (data, (host, port, transport)) name the same
    destination: it is flattened to [host, port, transport] so a change of tuple shape is
    not a difference in behaviour.
    """
    if isinstance(item, tuple) and item and isinstance(item[0], (bytes, bytearray, str)):
        head = item[0]
        flat: list[Any] = []
        for x in item[1:]:
            flat.extend(x if isinstance(x, tuple) else (x,))
        dest = _addr(tuple(flat)) if flat else []
        return (head if isinstance(head, str) else bytes(head)), dest
    return item, []


def mask_rtcp(b: bytes) -> bytes:
    """RTCP sender reports carry wall-clock NTP time and the RTP time derived from it
    (``RtpSession(wallclock=time.time)``): zero those 12 bytes in every SR of a compound."""
    out = bytearray(b)
    i = 0
    while i + 4 <= len(out):
        if out[i] >> 6 != 2:
            break
        pt = out[i + 1]
        length = (int.from_bytes(out[i + 2 : i + 4], "big") + 1) * 4
        if pt == 200 and i + 20 <= len(out):
            out[i + 8 : i + 20] = bytes(12)
        i += length
    return bytes(out)


def render_rtp(b: bytes) -> str:
    if len(b) >= 2 and b[0] >> 6 == 2 and 192 <= b[1] <= 223:  # RTCP (RFC 5761 demux)
        return "rtcp " + _short_bytes(mask_rtcp(b), 256)
    return "rtp " + _short_bytes(b, 256)


_DTLS_CT = {20: "ccs", 21: "alert", 22: "handshake", 23: "appdata"}


def render_dtls(b: bytes) -> str:
    """DTLS with real crypto differs each run (randoms, ECDHE keys, signatures, certificate):
    record only the record structure: content type, epoch, sequence number, the handshake
    message types of unencrypted (epoch 0) records, and the length of application data."""
    parts = []
    i = 0
    while i + 13 <= len(b):
        ct, epoch = b[i], int.from_bytes(b[i + 3 : i + 5], "big")
        seq = int.from_bytes(b[i + 5 : i + 11], "big")
        length = int.from_bytes(b[i + 11 : i + 13], "big")
        body = b[i + 13 : i + 13 + length]
        desc = f"{_DTLS_CT.get(ct, ct)} e{epoch} s{seq}"
        if ct == 22 and epoch == 0:
            types, j = [], 0
            while j + 12 <= len(body):
                types.append(str(body[j]))
                j += 12 + int.from_bytes(body[j + 9 : j + 12], "big")  # fragment length
            desc += " hs" + ",".join(types)
        elif ct == 23:
            desc += f" len{length}"
        parts.append(desc)
        i += 13 + length
    if i != len(b):
        parts.append(f"trailing{len(b) - i}")
    return "dtls " + " | ".join(parts)


def render_item(kind: str, item: Any) -> str:
    payload, dest = _split_item(item)
    if kind == "text":
        text = payload if isinstance(payload, str) else bytes(payload).decode("utf-8", "replace")
        return json.dumps([norm_ports(text.encode()).decode(), *dest])
    b = payload.encode() if isinstance(payload, str) else bytes(payload)
    if kind == "dtls":
        return json.dumps([render_dtls(b), *dest])
    if kind == "rtp":
        return json.dumps([render_rtp(b), *dest])
    # "datagram": SIP text, verbatim (it is deterministic once tokens are).
    return json.dumps([norm_ports(b).decode("utf-8", "backslashreplace"), *dest])


# --------------------------------------------------------------------------- recording state


class Instance:
    def __init__(self, spec: CoreSpec, index: int, obj: Any) -> None:
        self.key = f"{spec.name}#{index}"
        self.spec = spec
        self.obj = obj  # kept alive for the test so id() is not reused
        self.out: list[str] = []
        self.timers: list[str] = []
        self.events: list[str] = []
        self.stream = bytearray()
        self.writes = 0
        self.last_now: float | None = None
        self.last_deadline: Any = "unset"
        self.depth = 0


class Recorder:
    def __init__(self) -> None:
        self.active = False
        self.instances: dict[int, Instance] = {}
        self.counters: dict[str, int] = {}
        self.order: list[Instance] = []

    def reset(self) -> None:
        self.instances.clear()
        self.counters.clear()
        self.order.clear()

    def get(self, spec: CoreSpec, obj: Any) -> Instance:
        inst = self.instances.get(id(obj))
        if inst is None or inst.obj is not obj:
            n = self.counters.get(spec.name, 0)
            self.counters[spec.name] = n + 1
            inst = Instance(spec, n, obj)
            self.instances[id(obj)] = inst
            self.order.append(inst)
        return inst


REC = Recorder()
_TIMER_FN: dict[type, Callable[[Any], Any]] = {}
_OUTPUT_FN: dict[type, list[Callable[..., Any]]] = {}  # wrapped output methods per class


def _now_of(
    sig: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> float | None:
    if sig is None:
        return None
    try:
        bound = sig.bind_partial(None, *args, **kwargs)
    except TypeError:
        return None
    for name, scale in (("now", 1.0), ("now_ms", 0.001)):
        v = bound.arguments.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v) * scale
    return None


def _check_timer(inst: Instance, obj: Any) -> None:
    fn = _TIMER_FN.get(type(obj))
    if fn is None:
        for klass in type(obj).__mro__:
            fn = _TIMER_FN.get(klass)
            if fn is not None:
                break
    if fn is None:
        return
    try:
        t = fn(obj)
    except Exception:  # a half-built object; nothing to say
        return
    # A change is a new absolute deadline; it is written relative to the `now` of the last
    # input, at 10 ms resolution (on a real loop the arming input's now and the last one seen
    # can differ by a few ms; compare_dumps.py tolerates ±0.02 s on timer lines).
    if t == inst.last_deadline:
        return
    inst.last_deadline = t
    if t is None:
        text = "none"
    elif inst.last_now is None:
        text = "armed (no now seen)"
    else:
        text = f"{float(t) - inst.last_now:+.2f}".replace("-0.00", "+0.00")
    inst.timers.append(text)


def _wrap_input(spec: CoreSpec, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not REC.active:
            return fn(self, *args, **kwargs)
        inst = REC.get(spec, self)
        now = _now_of(sig, args, kwargs)
        inst.depth += 1
        try:
            return fn(self, *args, **kwargs)
        finally:
            inst.depth -= 1
            if inst.depth == 0:
                if now is not None:
                    inst.last_now = now
                _check_timer(inst, self)

    wrapper.__eqrec__ = True  # type: ignore[attr-defined]
    return wrapper


def _wrap_output(spec: CoreSpec, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = fn(self, *args, **kwargs)
        if not REC.active:
            return result
        inst = REC.get(spec, self)
        if inst.depth == 0:
            _record_output(inst, result)
            _check_timer(inst, self)
        return result

    wrapper.__eqrec__ = True  # type: ignore[attr-defined]
    return wrapper


def _record_output(inst: Instance, result: Any) -> None:
    if isinstance(result, (bytes, bytearray, memoryview)):
        if len(result):
            inst.stream += bytes(result)
            inst.writes += 1
        return
    if isinstance(result, str):
        result = [result]
    for item in result or ():
        if inst.spec.render_out == "stream":
            payload, _ = _split_item(item)
            inst.stream += payload.encode() if isinstance(payload, str) else bytes(payload)
            inst.writes += 1
        else:
            inst.out.append(render_item(inst.spec.render_out, item))


def _wrap_event(spec: CoreSpec, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        ev = fn(self, *args, **kwargs)
        if REC.active and ev is not None:
            inst = REC.get(spec, self)
            inst.events.append(_ADDR_RE.sub("", canon(ev, spec.redact_event_bytes)))
        return ev

    wrapper.__eqrec__ = True  # type: ignore[attr-defined]
    return wrapper


class _RecordingList(list):  # type: ignore[type-arg]
    """Old RtpSession API: records every append/extend into rtp_out / rtcp_out."""

    def __init__(self, owner: Any, spec: CoreSpec, items: Any = ()) -> None:
        super().__init__(items)
        self._owner, self._spec = owner, spec

    def append(self, item: Any) -> None:
        if REC.active:
            _record_output(REC.get(self._spec, self._owner), [item])
        super().append(item)

    def extend(self, items: Any) -> None:
        items = list(items)
        if REC.active:
            _record_output(REC.get(self._spec, self._owner), items)
        super().extend(items)


class _ListAttr:
    def __init__(self, spec: CoreSpec, name: str) -> None:
        self.spec, self.name, self.slot = spec, name, "_eqrec_" + name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        return obj.__dict__[self.slot]

    def __set__(self, obj: Any, value: Any) -> None:
        if isinstance(value, list) and not isinstance(value, _RecordingList):
            value = _RecordingList(obj, self.spec, value)
        obj.__dict__[self.slot] = value


def _own_methods(cls: type) -> dict[str, Any]:
    """Public methods of cls and its wcs base classes (not properties, not dunders)."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("wcs"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or not inspect.isfunction(value):
                continue
            found[name] = value
    return found


def install() -> list[str]:
    """Wrap every core class found; return what was found (for the summary)."""
    found = []
    done: set[type] = set()
    for spec in CORES:
        for module, cls_name in spec.candidates:
            try:
                mod = importlib.import_module(module)
            except ImportError:
                continue
            cls = getattr(mod, cls_name, None)
            if not isinstance(cls, type) or cls in done:
                continue
            done.add(cls)
            found.append(f"{spec.name}={cls.__module__}.{cls.__qualname__}")
            methods = _own_methods(cls)
            for tname in TIMER_METHODS:
                if tname in methods:
                    _TIMER_FN[cls] = methods[tname]
                    break
            has_output = any(n in methods for n in OUTPUT_METHODS)
            for name, fn in methods.items():
                if getattr(fn, "__eqrec__", False):
                    continue
                if name in OUTPUT_METHODS:
                    wrapped = _wrap_output(spec, fn)
                    _OUTPUT_FN.setdefault(cls, []).append(wrapped)
                elif name in EVENT_METHODS:
                    wrapped = _wrap_event(spec, fn)
                elif name in TIMER_METHODS:
                    continue
                else:
                    wrapped = _wrap_input(spec, name, fn)
                setattr(cls, name, wrapped)
            if not has_output and spec.render_out == "rtp":
                for attr in OUTPUT_LISTS:
                    setattr(cls, attr, _ListAttr(spec, attr))
    return found


# --------------------------------------------------------------------------- determinism


class _Determinism:
    """Seeded replacements for the random sources wcs draws tokens from."""

    def __init__(self) -> None:
        self.saved: list[tuple[Any, str, Any]] = []
        self.random_state: Any = None

    def start(self, seed: int) -> None:
        rng = random.Random(seed)
        self.random_state = random.getstate()
        random.seed(seed)  # the module-level instance (RtpSession's rng=random.random default)

        def token_bytes(n: int | None = None) -> bytes:
            return rng.randbytes(32 if n is None else n)

        def token_hex(n: int | None = None) -> str:
            return token_bytes(n).hex()

        def token_urlsafe(n: int | None = None) -> str:
            import base64

            return base64.urlsafe_b64encode(token_bytes(n)).rstrip(b"=").decode()

        def urandom(n: int) -> bytes:
            return rng.randbytes(n)

        def uuid4() -> uuid.UUID:
            return uuid.UUID(bytes=rng.randbytes(16), version=4)

        repl: list[tuple[Any, str, Any]] = [
            (secrets, "token_bytes", token_bytes),
            (secrets, "token_hex", token_hex),
            (secrets, "token_urlsafe", token_urlsafe),
            (secrets, "randbits", rng.getrandbits),
            (secrets, "randbelow", rng.randrange),
            (secrets, "choice", rng.choice),
            (os, "urandom", urandom),
            (uuid, "uuid4", uuid4),
        ]
        originals = {id(getattr(m, n)): f for m, n, f in repl}
        for mod, name, fn in repl:
            self._set(mod, name, fn)
        # Names imported with `from secrets import token_hex` live in wcs modules.
        for mname, mod in list(sys.modules.items()):
            if mod is None or not (mname == "wcs" or mname.startswith("wcs.")):
                continue
            for attr, value in list(vars(mod).items()):
                fn = originals.get(id(value))
                if fn is not None:
                    self._set(mod, attr, fn)

    def _set(self, mod: Any, name: str, fn: Any) -> None:
        self.saved.append((mod, name, getattr(mod, name)))
        setattr(mod, name, fn)

    def stop(self) -> None:
        for mod, name, value in reversed(self.saved):
            setattr(mod, name, value)
        self.saved.clear()
        if self.random_state is not None:
            random.setstate(self.random_state)


DET = _Determinism()

# --------------------------------------------------------------------------- dump

# Tests whose core output depends on real-time scheduling, not on wcs logic: recorded as one
# "excluded" line so they still pair up.
EXCLUDED = {
    "test_back_pressure_drops_video_instead_of_growing_memory": (
        "how much video is dropped depends on how fast the kernel drains a real socket"
    ),
}


def _blocks(data: bytes, size: int = 512) -> Iterator[str]:
    """A byte stream in fixed blocks, hex: independent of how the writes were drained."""
    for off in range(0, len(data), size):
        yield f"@{off} h:{data[off : off + size].hex()}"


_HS = 1 + 1536 + 1536  # RTMP C0 + C1 + C2


def _rtmp_handshake(stream: bytes, lines: list[str], key: str) -> bytes:
    """C1 is 1528 random bytes and C2 echoes the peer's S1: keep C0 and the 8 time bytes of
    C1; the rest of the handshake is only counted."""
    if len(stream) < _HS or stream[0] != 3:
        return stream
    lines.append(f"{key} out handshake C0={stream[0]} C1[:8]={stream[1:9].hex()} ({_HS} bytes)")
    return stream[_HS:]


def drain_leftovers() -> None:
    """At the end of a test, drain what each core still holds, so output is recorded
    whether or not the test drained it (the old RtpSession lists are recorded on append;
    a core on the new contract only when drained)."""
    for inst in list(REC.order):
        fns = next((_OUTPUT_FN[k] for k in type(inst.obj).__mro__ if k in _OUTPUT_FN), [])
        now = inst.last_now if inst.last_now is not None else 0.0
        for fn in fns:
            try:
                if "now" in inspect.signature(fn).parameters:
                    fn(inst.obj, now)
                else:
                    fn(inst.obj)
            except Exception:  # a core in a broken state at teardown: nothing more to get
                pass


def _canonical_order(inst: Instance) -> list[str]:
    """RTP and RTCP are separate streams (old: two lists; new: one drain); keep each in
    order but not their interleaving, which depends on when the owner drained."""
    if inst.spec.render_out != "rtp":
        return inst.out
    return sorted(inst.out, key=lambda line: line.startswith('["rtcp'))


def dump(path: Path) -> dict[str, int]:
    counts = {"out": 0, "timer": 0, "event": 0}
    lines: list[str] = []
    for inst in REC.order:
        if inst.stream:
            stream = _rtmp_handshake(norm_ports(bytes(inst.stream)), lines, inst.key)
            lines.append(f"{inst.key} stream {len(stream)} bytes")
            for b in _blocks(stream):
                lines.append(f"{inst.key} out {b}")
                counts["out"] += 1
        for o in _canonical_order(inst):
            lines.append(f"{inst.key} out {o}")
        for t in inst.timers:
            lines.append(f"{inst.key} timer {t}")
        for e in inst.events:
            lines.append(f"{inst.key} event {e}")
        counts["out"] += len(inst.out)
        counts["timer"] += len(inst.timers)
        counts["event"] += len(inst.events)
    # Every test gets a file (empty: it drove no core), so a vanished test shows up.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return counts


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-\[\]=,]+", "_", text)


def test_file_name(nodeid: str) -> str:
    """``<file path>__<test name>.txt``; a name with replaced characters or a long one gets
    a hash of the name (not of the path, so a moved test keeps its name)."""
    path, _, name = nodeid.partition("::")
    name = name.replace("::", "__")
    safe = _safe(name)
    if safe != name or len(safe) > 150:
        safe = safe[:130] + "-" + hashlib.sha256(name.encode()).hexdigest()[:10]
    return _safe(path.replace("/", "_")) + "__" + safe + ".txt"


# --------------------------------------------------------------------------- pytest hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--eqrec-dir",
        default=os.environ.get("EQREC_DIR"),
        help="directory for the equivalence recording (one file per test)",
    )


_STATE: dict[str, Any] = {"dir": None, "found": [], "totals": {}, "tests": 0}


def pytest_configure(config: pytest.Config) -> None:
    d = config.getoption("--eqrec-dir")
    if not d:
        return
    _STATE["dir"] = Path(d)
    _STATE["found"] = install()
    # Recording must not write into the tree under test (it may be a read-only checkout):
    # hypothesis keeps its example database under a temporary directory instead.
    try:
        import tempfile

        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(tempfile.mkdtemp(prefix="eqrec-hypothesis-"))
    except ImportError:
        pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    if _STATE["dir"] is None:
        yield
        return
    # Cores imported late (a test module imported after configure) are wrapped on sight.
    _STATE["found"] = sorted(set(_STATE["found"]) | set(install()))
    REC.reset()
    # Seeded by the test's name, not its path, so a test moved to another file draws the
    # same tokens.
    seed = int.from_bytes(hashlib.sha256(item.name.encode()).digest()[:4], "big")
    DET.start(seed)
    REC.active = True
    try:
        yield
    finally:
        drain_leftovers()
        REC.active = False
        DET.stop()
        reason = EXCLUDED.get(item.name)
        if reason is not None:
            REC.reset()
            path = _STATE["dir"] / test_file_name(item.nodeid)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"excluded: {reason}\n")
        counts = dump(_STATE["dir"] / test_file_name(item.nodeid)) if reason is None else {}
        if reason is None and getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            # Generated inputs depend on the test's code: recorded, compared apart.
            path = _STATE["dir"] / test_file_name(item.nodeid)
            if path.exists():
                path.write_text(GENERATED + path.read_text())
        _STATE["tests"] += 1
        per = _STATE["totals"]
        for inst in REC.order:
            k = inst.spec.name
            t = per.setdefault(
                k, {"instances": 0, "out": 0, "stream_bytes": 0, "timer": 0, "event": 0}
            )
            t["instances"] += 1
            t["out"] += len(inst.out)
            t["stream_writes"] = t.get("stream_writes", 0) + inst.writes
            t["stream_bytes"] += len(inst.stream)
            t["timer"] += len(inst.timers)
            t["event"] += len(inst.events)
        del counts
        REC.reset()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _STATE["dir"] is None:
        return
    _STATE["dir"].mkdir(parents=True, exist_ok=True)
    summary = {"tests_run": _STATE["tests"], "classes": _STATE["found"], "totals": _STATE["totals"]}
    (_STATE["dir"] / "_summary.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True) + "\n"
    )
