"""Media direction and hold (RFC 3264 §5.1/§6.1, RFC 2543's c=0.0.0.0)."""

from __future__ import annotations

from .media import MediaDescription
from .session import SessionDescription


def direction_of(media: MediaDescription, session: SessionDescription | None = None) -> str:
    """Effective direction: the media's, else the session's, else sendrecv (RFC 3264 §5.1)."""
    if media.direction is not None:
        return media.direction
    if session is not None and session.direction is not None:
        return session.direction
    return "sendrecv"


def zero_address_hold(media: MediaDescription, session: SessionDescription | None = None) -> bool:
    """c=0.0.0.0 as the RFC 2543 hold signal.

    Not with ICE: WebRTC offers always carry c=IN IP4 0.0.0.0 (port 9) and put the real
    addresses in candidates (RFC 8839 §4.2.1.3)."""
    conn = media.connection or (session.connection if session is not None else None)
    if conn is None or conn.host not in ("0.0.0.0", "::"):
        return False
    uses_ice = bool(media.ice_ufrag or media.candidates or (session and session.ice_ufrag))
    return not uses_ice


def is_hold(media: MediaDescription, session: SessionDescription | None = None) -> bool:
    """The sender of this SDP stops receiving: sendonly/inactive, or c=0.0.0.0 (RFC 2543)."""
    if direction_of(media, session) in ("sendonly", "inactive"):
        return True
    return zero_address_hold(media, session)


def answer_direction(offered: str, local: str = "sendrecv") -> str:
    """RFC 3264 §6.1: we send only if the offerer receives, and receive only if it sends."""
    can_send = offered in ("sendrecv", "recvonly") and local in ("sendrecv", "sendonly")
    can_recv = offered in ("sendrecv", "sendonly") and local in ("sendrecv", "recvonly")
    if can_send and can_recv:
        return "sendrecv"
    if can_send:
        return "sendonly"
    return "recvonly" if can_recv else "inactive"
