"""In-place SRTP protection for the forwarding hot path: one buffer per context.

The forwarder writes the rewritten packet straight into :attr:`Sealer.buffer` and calls
:meth:`Sealer.seal` with its length; libsrtp protects it where it lies and the result is a
view of the same buffer, handed to ``socket.send`` before the next packet. Per packet this
saves what ``pylibsrtp.Session.protect`` allocates (a length cell, the copy in, the bytes
out) and the caller's own header + payload concatenation: our own work per 1200-byte
viewer packet went from 2.8 to 2.0 µs with AES-GCM (bench/bench_webrtc_send.py,
bench/RESULTS.md "Hot path (issue 17)").

It calls libsrtp through pylibsrtp's cffi binding (``pylibsrtp._binding``, the module its
own ``Session`` uses; libsrtp 2's ``srtp_protect(ctx, buf, &len)``). When that binding is
not there or not that shape (another pylibsrtp), :func:`sealer` falls back to
``Session.protect`` on a copy: same bytes on the wire, only slower.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pylibsrtp

MAX_RTP = 1500  # the largest plain RTP packet sealed (an Ethernet MTU)
_TRAILER = 16 + 128  # room libsrtp may append: auth tag / GCM tag, MKI (pylibsrtp's figure)

Seal = Callable[[int], "bytes | memoryview"]


class Sealer:
    """``buffer``: where the plain packet goes; ``seal(n)``: its protected form.

    The view ``seal`` returns is valid until the next call: send it at once.
    """

    __slots__ = ("buffer", "direct", "seal")

    def __init__(self, buffer: memoryview, seal: Seal, direct: bool) -> None:
        self.buffer = buffer
        self.seal = seal
        self.direct = direct


def sealer(session: pylibsrtp.Session) -> Sealer:
    """A sealer for ``session``'s outbound RTP (direct through libsrtp when possible)."""
    try:
        from pylibsrtp._binding import ffi, lib

        ctx = session._srtp[0]
        if str(ffi.typeof(lib.srtp_protect)) != _SIGNATURE:
            raise AttributeError("unexpected srtp_protect signature")
    except (ImportError, AttributeError, TypeError):
        return _copying(session)
    return _direct(session, ffi, lib, ctx)


_SIGNATURE = "<ctype 'srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)'>"


def plain() -> Sealer:
    """No protection (before keys exist): ``seal`` returns the plain packet."""
    buffer = memoryview(bytearray(MAX_RTP))
    return Sealer(buffer, lambda n: bytes(buffer[:n]), direct=False)


def _direct(session: pylibsrtp.Session, ffi: Any, lib: Any, ctx: Any) -> Sealer:
    cdata = ffi.new("char[]", MAX_RTP + _TRAILER)
    whole = memoryview(ffi.buffer(cdata))
    length = ffi.new("int *")
    protect = lib.srtp_protect
    keep = session  # ctx lives as long as its Session: the closure holds both

    def seal(n: int) -> memoryview:
        length[0] = n
        status = protect(ctx, cdata, length)
        if status:
            raise pylibsrtp.Error(f"srtp_protect failed ({status}, session {id(keep):x})")
        return whole[: length[0]]

    return Sealer(whole[:MAX_RTP], seal, direct=True)


def _copying(session: pylibsrtp.Session) -> Sealer:
    buffer = memoryview(bytearray(MAX_RTP))
    protect = session.protect
    return Sealer(buffer, lambda n: protect(bytes(buffer[:n])), direct=False)
