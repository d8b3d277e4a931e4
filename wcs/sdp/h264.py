"""H.264 payload format rules (RFC 6184): profile-level-id, packetization-mode, answer level."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SdpError
from .fmtp import parse_fmtp


@dataclass(frozen=True, slots=True)
class H264ProfileLevel:
    """``profile-level-id``: profile_idc, profile-iop (constraint flags), level_idc.

    ``level`` is level_idc, except level 1b which is 9 (as the High profiles code it).
    """

    profile_idc: int
    profile_iop: int
    level: int

    @property
    def profile(self) -> str:
        """The named profile, folding the constraint flags in the way RFC 6184 §8.1 does."""
        idc, iop = self.profile_idc, self.profile_iop
        set0, set1, set3 = iop & 0x80, iop & 0x40, iop & 0x10
        if idc == 0x42:
            return "constrained-baseline" if set1 else "baseline"
        if idc == 0x4D:
            return "constrained-baseline" if set0 else "main"
        if idc == 0x58:
            if set0 and set1:
                return "constrained-baseline"
            return "baseline" if set0 else "extended"
        if idc == 0x64:
            # constraint_set4/5 (0x08, 0x04) together mark Constrained High.
            return "constrained-high" if iop & 0x0C == 0x0C else "high"
        if idc == 0xF4 and set3:
            return "high-4:4:4-intra"
        return {0x6E: "high-10", 0x7A: "high-4:2:2", 0xF4: "high-4:4:4"}.get(idc, f"idc-{idc}")

    @property
    def level_rank(self) -> float:
        """Orders levels: 1 < 1b < 1.1 < ... (1b sits between level_idc 10 and 11)."""
        return 10.5 if self.level == 9 else float(self.level)

    def __str__(self) -> str:
        level_idc, iop = self.level, self.profile_iop
        if level_idc == 9 and self.profile_idc in (0x42, 0x4D, 0x58):
            level_idc, iop = 11, iop | 0x10  # level 1b in the Baseline family: 11 + set3
        return f"{self.profile_idc:02x}{iop:02x}{level_idc:02x}"


# RFC 6184 §8.1: absent profile-level-id means Baseline, level 1.
_DEFAULT_PLID = "42000a"


def h264_profile_level(params: dict[str, str] | str | None) -> H264ProfileLevel:
    """Parse ``profile-level-id`` from fmtp params (dict or string); SdpError if malformed."""
    if not isinstance(params, dict):
        params = parse_fmtp(params)
    text = params.get("profile-level-id", _DEFAULT_PLID)
    if len(text) != 6 or not re.fullmatch(r"[0-9A-Fa-f]{6}", text):
        raise SdpError(f"bad H.264 profile-level-id {text!r}")
    raw = bytes.fromhex(text)
    idc, iop, level = raw[0], raw[1], raw[2]
    if level == 11 and iop & 0x10 and idc in (0x42, 0x4D, 0x58):
        level = 9  # level 1b
    return H264ProfileLevel(idc, iop, level)


def h264_packetization_mode(params: dict[str, str] | str | None) -> int:
    """packetization-mode (absent means 0, RFC 6184 §8.1)."""
    if not isinstance(params, dict):
        params = parse_fmtp(params)
    text = params.get("packetization-mode", "0")
    if text not in ("0", "1", "2"):
        raise SdpError(f"bad H.264 packetization-mode {text!r}")
    return int(text)


def h264_profiles_compatible(
    a: dict[str, str] | str | None, b: dict[str, str] | str | None
) -> bool:
    """Same profile (after folding constraint flags); levels may differ (RFC 6184 §8.2.2)."""
    try:
        return h264_profile_level(a).profile == h264_profile_level(b).profile
    except SdpError:
        return False


def h264_answer_level(
    offer: dict[str, str] | str | None, local: dict[str, str] | str | None
) -> int:
    """Level to put in an answer: without level-asymmetry-allowed on both sides, the lower one."""
    po = parse_fmtp(offer) if not isinstance(offer, dict) else offer
    pl = parse_fmtp(local) if not isinstance(local, dict) else local
    lo, ll = h264_profile_level(po), h264_profile_level(pl)
    if po.get("level-asymmetry-allowed") == "1" and pl.get("level-asymmetry-allowed") == "1":
        return ll.level
    return lo.level if lo.level_rank <= ll.level_rank else ll.level
