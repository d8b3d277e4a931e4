"""WebRTC viewers and publishers: ICE (aioice), DTLS (pyOpenSSL), SRTP (pylibsrtp), signaling.

- :class:`SecurePeer` (transport.py): what both peers share -- ICE, DTLS-SRTP keying, the
  life cycle and the one timer;
- :class:`ViewerPeer`: one browser's peer connection, send-only; fed RTP packets, it
  rewrites, SRTP-protects and sends them (``send_rtp(kind, packet)``), answers RTCP;
- :class:`PublisherPeer` (ingest.py): a publishing browser, receive-only; SRTP in, the SIP
  receive path (``RtpSession``) into the stream, RR/NACK/PLI/REMB out;
- :class:`Ingest` (publisher.py): publishers of the hub's streams (WHIP and ``publishStream``
  ask it: ``await ingest.publish(name, offer, ...)`` -> publisher, answer SDP);
- :func:`add_whip_routes`: WHIP (RFC 9725) on a :class:`wcs.rest.Router`;
- :class:`Playback`: viewers of the streams of a :class:`wcs.app.streams.StreamHub`
  (``await playback.play(name, offer_sdp, media_session_id)`` -> viewer, answer SDP);
- :class:`WcsSession`: the Flashphoner WebSDK WebSocket protocol, sans-IO;
- :func:`add_whep_routes`: WHEP on a :class:`wcs.rest.Router`;
- :class:`Certificate`: the DTLS certificate and its fingerprint.
"""

from .certificate import Certificate
from .ingest import PublisherPeer
from .peer import ViewerPeer
from .publisher import Ingest, Publisher, PublishError
from .signaling import WcsSession
from .transport import SecurePeer
from .viewer import Playback, PlaybackError, Viewer
from .whep import add_whep_routes
from .whip import add_whip_routes

__all__ = [
    "Certificate",
    "Ingest",
    "Playback",
    "PlaybackError",
    "PublishError",
    "Publisher",
    "PublisherPeer",
    "SecurePeer",
    "Viewer",
    "ViewerPeer",
    "WcsSession",
    "add_whep_routes",
    "add_whip_routes",
]
