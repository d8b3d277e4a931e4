"""wcs: SIP calls as live streams (a Flashphoner WCS "SIP as Stream" compatible server).

The server is ``wcs serve`` (:mod:`wcs.server`); the protocol pieces are usable on their own:

- :mod:`wcs.sip` -- a sans-IO SIP user agent (``UserAgent``) and its asyncio transport;
- :mod:`wcs.sdp` -- SDP parse/serialize and offer/answer;
- :mod:`wcs.rtp` -- RTP/RTCP packets, receive statistics, jitter buffer, port allocation;
- :mod:`wcs.media.h264` -- RFC 6184 packetizer and depacketizer, SPS parsing;
- :mod:`wcs.rtmp` -- an RTMP publishing client (``RtmpPublisher``), FLV, AMF0;
- :mod:`wcs.webrtc` -- a send-only WebRTC peer (ICE, DTLS, SRTP) and stream playback;
- :mod:`wcs.observability.metrics` -- our metric registry, exposed through prometheus_client;
- :mod:`wcs.demo` -- the demo callee (a SIP endpoint sending a test card);
- :mod:`wcs.pcap`, :mod:`wcs.pcap.report` -- reading captures, checking them against the
  parsers (``wcs conformance``).

See ``examples/`` for complete programs.
"""

__version__ = "0.1.0"
