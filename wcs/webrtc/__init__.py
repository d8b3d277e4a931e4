"""WebRTC viewer: ICE (aioice), DTLS (pyOpenSSL), SRTP (pylibsrtp), signaling.

- :class:`ViewerPeer`: one browser's peer connection, send-only; fed RTP packets, it
  rewrites, SRTP-protects and sends them (``send_rtp(kind, packet)``), answers RTCP;
- :class:`Playback`: viewers of the streams of a :class:`wcs.app.streams.StreamHub`
  (``await playback.play(name, offer_sdp, media_session_id)`` -> viewer, answer SDP);
- :class:`WcsSession`: the Flashphoner WebSDK WebSocket protocol, sans-IO;
- :func:`add_whep_routes`: WHEP on a :class:`wcs.rest.Router`;
- :class:`Certificate`: the DTLS certificate and its fingerprint.
"""

from .certificate import Certificate
from .peer import ViewerPeer
from .signaling import WcsSession
from .viewer import Playback, PlaybackError, Viewer
from .whep import add_whep_routes

__all__ = [
    "Certificate",
    "Playback",
    "PlaybackError",
    "Viewer",
    "ViewerPeer",
    "WcsSession",
    "add_whep_routes",
]
