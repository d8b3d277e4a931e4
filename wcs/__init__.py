"""wcs: SIP calls as live streams (a Flashphoner WCS "SIP as Stream" compatible server)."""

__version__ = "0.1.0"
