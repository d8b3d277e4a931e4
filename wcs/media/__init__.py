"""Codec knowledge: H.264 (RFC 6184), audio frames, PyAV transcoding."""
