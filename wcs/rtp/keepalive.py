"""What an RTP session sends a SIP peer that we only receive from: payloads a receiver drops.

H.264 filler data (nal_unit_type 12, which decoders ignore) opens the path of a video
m-line through NATs and SBCs (the init packets, WCS known issue 1); audio has its silence
from its encoder (:mod:`wcs.media.frame_encoder`).
"""

from __future__ import annotations

FILLER = b"\x0c" + b"\xff" * 8 + b"\x80"
