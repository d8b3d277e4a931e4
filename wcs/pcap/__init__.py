"""Capture tools, apart from the server: a pcap reader (``reader``) and the conformance report
of a capture (``report``, behind ``wcs conformance FILE.pcap``). Standard library plus our
own SIP/SDP parsers; the server never imports this package."""

from .reader import Packet, PcapError, read_pcap

__all__ = ["Packet", "PcapError", "read_pcap"]
