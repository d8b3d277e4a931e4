"""WebRTC viewer: ICE (aioice), DTLS (pyOpenSSL), SRTP (pylibsrtp), signaling."""
