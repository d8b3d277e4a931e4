"""The PIN of an incoming call: the caller keys it and ``#`` (RFC 4733 or SIP INFO).

A dispatch with ``pin`` answers the call as usual but holds its stream back: the media
flows, nothing is published. The keys come through the call's DTMF receive path
(:meth:`wcs.app.call_dtmf.ReceivedKeys.wait`, from the moment the call is answered): the
PIN followed by ``#`` publishes the stream; other keys (as many as the PIN has, plus one,
or fewer ending with ``#``), or nothing within the timeout, hang the call up: a BYE with a
Reason header (RFC 3326: ``SIP;cause=403`` for a wrong PIN, ``408`` for none), status FAILED
with the reason as ``info``.
"""

from __future__ import annotations

from wcs.app.call import Call

WRONG_PIN = "Wrong PIN"


def no_pin(timeout: float) -> str:
    return f"No PIN within {timeout:g} s"


def bye_reason(problem: str) -> str:
    """The Reason header of the BYE for ``problem`` (what :func:`check_pin` said)."""
    cause = 403 if problem == WRONG_PIN else 408
    return f'SIP;cause={cause};text="{problem}"'


async def check_pin(call: Call, pin: str, timeout: float) -> str | None:
    """None when the caller keyed ``pin`` + ``#`` in time, else why the call must end.
    EOFError when the call ended meanwhile."""
    try:
        keys = await call.dtmf.wait(len(pin) + 1, until="#", timeout=timeout)
    except TimeoutError:
        return no_pin(timeout)
    return None if keys == pin + "#" else WRONG_PIN
