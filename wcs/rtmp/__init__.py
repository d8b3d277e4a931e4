"""RTMP publishing client: handshake, chunk stream, AMF0, FLV."""
