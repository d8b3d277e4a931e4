"""What an RTP session sends a SIP peer that we only receive from: payloads a receiver drops.

They open the path through NATs and SBCs (the init packets, WCS known issue 1) and keep it
open (audio silence every ptime): G.711 silence, an Opus 20 ms silent frame, H.264 filler
data (nal_unit_type 12, which decoders ignore).
"""

from __future__ import annotations

from wcs import sdp

_SILENCE = {"PCMU": b"\xff" * 160, "PCMA": b"\xd5" * 160, "opus": b"\xf8\xff\xfe"}
_SILENCE_STEP = {"PCMU": 160, "PCMA": 160, "opus": 960}
FILLER = b"\x0c" + b"\xff" * 8 + b"\x80"


def silence(codec: sdp.Codec | None) -> tuple[bytes, int] | None:
    """(payload, timestamp step) of 20 ms of silence in ``codec``; None if we have none."""
    name = codec.name if codec is not None else ""
    key = "opus" if name.lower() == "opus" else name.upper()
    payload = _SILENCE.get(key)
    return None if payload is None else (payload, _SILENCE_STEP[key])
