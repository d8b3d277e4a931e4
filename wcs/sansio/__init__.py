"""The one contract every protocol core follows, and the one asyncio edge that drives them.

A core (SIP user agent, RTP session, DTLS, RTMP connection, WCS WebSocket signaling, …) is a
plain object fed with input and the current time. It never touches a socket or the event
loop; it says what it wants to send, when it next wants to be woken and what happened:

    core.receive_…(data, …, now)        feed input (a datagram, a chunk of a byte stream)
    core.datagrams_to_send(now)         datagram flavour: [(bytes, address), …]
    core.data_to_send(now)              one-remote flavour: what to write (bytes, messages)
    core.get_timer()                    the next deadline (loop time), or None
    core.handle_timer(now)              fire it
    core.next_event()                   what happened, one event at a time, or None

`Pump` is the edge: after any input, action or timer it transmits what the core wants to
send, hands every event to the owner, then re-arms exactly one `call_at` for the core's next
deadline. Nothing polls. This is how aioquic's `quic/connection.py` is driven. Deadlines
that need not be exact go on a shared grid (:func:`on_grid`), so the timers of many cores
fire in one loop iteration.

The cores, by flavour:

    SIP UserAgent    datagrams_to_send(now) -> [(bytes, (host, port, "udp" | "tcp"))]
    DemoAnswerer     datagrams_to_send(now) -> [(bytes, (host, port))]   (a UserAgent inside)
    DtlsSession      data_to_send(now) -> [datagram, …]   (one remote: the ICE pair)
    RTMP connection  data_to_send(now) -> bytes
    WcsSession       data_to_send(now) -> [text frame, …]
    ViewerPeer,      get_timer/handle_timer only: their own edge sends (fast path);
    PublisherPeer    both are SecurePeer (wcs.webrtc.transport)
"""

from .contract import Core, DatagramCore, StreamCore
from .grid import GRID, on_grid
from .pump import Pump

__all__ = ["GRID", "Core", "DatagramCore", "Pump", "StreamCore", "on_grid"]
