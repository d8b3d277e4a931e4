"""RTP and RTCP: packets, per-SSRC session state, jitter buffer, media port allocation."""
