"""A browser's SDP offer (parsed by ``wcs.sdp``) and the transport facts a viewer needs."""

from __future__ import annotations

from dataclasses import dataclass

from wcs.sdp import MediaDescription, SdpError, SessionDescription


class OfferError(ValueError):
    """The offer cannot be answered; the message says why."""


@dataclass(slots=True)
class Offer:
    sdp: SessionDescription
    ice_ufrag: str
    ice_pwd: str
    fingerprints: list[tuple[str, str]]  # (algorithm lower-case, value upper-case)
    setup: str  # "actpass", "active" or "passive"

    @property
    def media(self) -> list[MediaDescription]:
        return self.sdp.media

    @property
    def bundle(self) -> list[str]:
        return self.sdp.bundle_mids()

    def live(self, media: MediaDescription) -> bool:
        """Not rejected: a port, or port 0 with ``a=bundle-only`` inside the BUNDLE group
        (RFC 8843 7.3: how a max-bundle offerer, e.g. GStreamer's webrtcbin, offers every
        m-line but the first)."""
        if media.port != 0:
            return True
        bundle_only = any(name == "bundle-only" for name, _ in media.attributes)
        return bundle_only and media.mid is not None and media.mid in self.bundle


def parse_offer(text: str) -> Offer:
    try:
        sd = SessionDescription.parse(text)
    except SdpError as exc:
        raise OfferError(f"bad SDP: {exc}") from exc
    if not sd.media:
        raise OfferError("the offer has no media")
    # With BUNDLE every m-line carries the same transport; the first with a port is used.
    first = next((m for m in sd.media if m.port != 0), sd.media[0])
    ufrag = first.ice_ufrag or sd.ice_ufrag
    pwd = first.ice_pwd or sd.ice_pwd
    if not ufrag or not pwd:
        raise OfferError("the offer has no ICE credentials")
    fingerprints = [
        (f.algorithm.lower(), f.value.upper()) for f in (first.fingerprints or sd.fingerprints)
    ]
    if not fingerprints:
        raise OfferError("the offer has no DTLS fingerprint")
    setup = first.setup or sd.setup or "actpass"
    if setup not in ("actpass", "active", "passive"):
        raise OfferError(f"bad a=setup {setup!r}")
    return Offer(sd, ufrag, pwd, fingerprints, setup)
