"""SRTP/SRTCP contexts (pylibsrtp) from DTLS-SRTP keys (viewers) or SDES keys (SIP peers)."""

from __future__ import annotations

from pylibsrtp import Policy, Session

from .srtp_seal import Sealer, sealer

TX_WINDOW = 1024

# DTLS-SRTP protection profile names (RFC 5764, RFC 7714) and SDES suite names (RFC 4568).
_PROFILES = {
    "SRTP_AES128_CM_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "SRTP_AEAD_AES_128_GCM": Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


class SrtpContext:
    """Outbound and inbound sessions for one SRTP association (DTLS-SRTP or SDES).

    ``protect``/``protect_rtcp``/``unprotect_rtcp`` are the bound pylibsrtp methods, so the
    hot path pays no extra call. They take ``bytes`` and raise ``pylibsrtp.Error``.
    """

    def __init__(self, profile: str, local_key: bytes, remote_key: bytes) -> None:
        srtp_profile = _PROFILES.get(profile)
        if srtp_profile is None:
            raise ValueError(f"unsupported SRTP profile {profile!r}")
        tx = Policy(key=local_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=srtp_profile)
        # NACK retransmissions protect the same sequence number again.
        tx.allow_repeat_tx = True
        # libsrtp also refuses indexes older than its window on send; make the window
        # cover the NACK history (sender.HISTORY_SIZE).
        tx.window_size = TX_WINDOW
        rx = Policy(key=remote_key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=srtp_profile)
        self._tx = Session(tx)
        self._rx = Session(rx)
        self.protect = self._tx.protect
        # The forwarding hot path: protect in place, no per-packet allocation.
        self.sealer: Sealer = sealer(self._tx)
        self.protect_rtcp = self._tx.protect_rtcp
        self.unprotect = self._rx.unprotect
        self.unprotect_rtcp = self._rx.unprotect_rtcp
