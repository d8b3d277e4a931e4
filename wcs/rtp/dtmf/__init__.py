"""DTMF on RTP (RFC 4733 telephone-event): :class:`DtmfSender` puts a call's queued keys on
its audio stream, :class:`DtmfReceiver` turns a peer's events into keys reported once."""

from wcs.media.dtmf import DtmfSettings

from .payload import event_payload
from .receiver import DtmfReceiver
from .sender import DtmfSender, DtmfSent

__all__ = ["DtmfReceiver", "DtmfSender", "DtmfSent", "DtmfSettings", "event_payload"]
