"""Sequence parameter set parser (H.264 7.3.2.1.1): profile, level and picture size.

Reads only what is needed for the picture size and the SDP ``profile-level-id``; stops before
the VUI. Emulation prevention bytes are removed first (7.4.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from .nal import HIGH_PROFILES, NAL_SPS


def unescape_rbsp(data: bytes) -> bytes:
    """Drop emulation prevention bytes: 00 00 03 → 00 00.

    A left-to-right non-overlapping replace is exact here, because the zero count restarts
    after each emulation byte, just as ``bytes.replace`` resumes after each match.
    """
    return data.replace(b"\x00\x00\x03", b"\x00\x00")


class BitReader:
    """MSB-first bit reader with exp-Golomb codes; raises ValueError past the end."""

    __slots__ = ("_nbits", "_pos", "_value")

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._nbits = len(data) * 8
        self._pos = 0

    def u(self, n: int) -> int:
        end = self._pos + n
        if end > self._nbits:
            raise ValueError("SPS truncated")
        self._pos = end
        return (self._value >> (self._nbits - end)) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("exp-Golomb code too long")
        return (1 << zeros) - 1 + (self.u(zeros) if zeros else 0)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


@dataclass(frozen=True, slots=True)
class Sps:
    profile_idc: int
    constraint_flags: int  # the whole byte: constraint_set0_flag is the MSB
    level_idc: int
    sps_id: int
    chroma_format_idc: int
    bit_depth_luma: int
    bit_depth_chroma: int
    frame_mbs_only: bool
    width: int
    height: int
    crop: tuple[int, int, int, int]  # left, right, top, bottom in luma samples

    @property
    def profile_level_id(self) -> str:
        """The SDP fmtp value, e.g. ``42e01f``."""
        return f"{self.profile_idc:02x}{self.constraint_flags:02x}{self.level_idc:02x}"


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + r.se() + 256) % 256
        if nxt != 0:
            last = nxt


def parse_sps(nal: bytes) -> Sps:
    """Parse an SPS NAL unit (with its one-byte header); ValueError if malformed."""
    if not nal or nal[0] & 0x1F != NAL_SPS:
        raise ValueError("not an SPS NAL unit")
    r = BitReader(unescape_rbsp(nal[1:]))
    profile_idc = r.u(8)
    constraint_flags = r.u(8)
    level_idc = r.u(8)
    sps_id = r.ue()
    if sps_id > 31:
        raise ValueError(f"seq_parameter_set_id {sps_id} out of range")
    chroma_format_idc = 1
    separate_colour_plane = 0
    bit_depth_luma = bit_depth_chroma = 8
    if profile_idc in HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc > 3:
            raise ValueError(f"chroma_format_idc {chroma_format_idc} out of range")
        if chroma_format_idc == 3:
            separate_colour_plane = r.u(1)
        bit_depth_luma = r.ue() + 8
        bit_depth_chroma = r.ue() + 8
        r.u(1)  # qpprime_y_zero_transform_bypass_flag
        if r.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        r.u(1)  # delta_pic_order_always_zero_flag
        r.se()  # offset_for_non_ref_pic
        r.se()  # offset_for_top_to_bottom_field
        cycle = r.ue()
        if cycle > 255:
            raise ValueError("num_ref_frames_in_pic_order_cnt_cycle out of range")
        for _ in range(cycle):
            r.se()
    elif poc_type != 2:
        raise ValueError(f"pic_order_cnt_type {poc_type} out of range")
    r.ue()  # max_num_ref_frames
    r.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_map_units = r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.u(1)  # mb_adaptive_frame_field_flag
    r.u(1)  # direct_8x8_inference_flag
    crop_l = crop_r = crop_t = crop_b = 0
    if r.u(1):  # frame_cropping_flag
        crop_l, crop_r, crop_t, crop_b = r.ue(), r.ue(), r.ue(), r.ue()
    # Crop units (7-19 .. 7-22): chroma subsampling and field coding scale the offsets.
    chroma_array_type = 0 if separate_colour_plane else chroma_format_idc
    if chroma_array_type == 0:
        unit_x, unit_y = 1, 2 - frame_mbs_only
    else:
        sub_w = 1 if chroma_array_type == 3 else 2
        sub_h = 2 if chroma_array_type == 1 else 1
        unit_x, unit_y = sub_w, sub_h * (2 - frame_mbs_only)
    crop = (crop_l * unit_x, crop_r * unit_x, crop_t * unit_y, crop_b * unit_y)
    width = width_mbs * 16 - crop[0] - crop[1]
    height = (2 - frame_mbs_only) * height_map_units * 16 - crop[2] - crop[3]
    if width <= 0 or height <= 0:
        raise ValueError("cropping leaves no picture")
    return Sps(
        profile_idc=profile_idc,
        constraint_flags=constraint_flags,
        level_idc=level_idc,
        sps_id=sps_id,
        chroma_format_idc=chroma_format_idc,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        frame_mbs_only=bool(frame_mbs_only),
        width=width,
        height=height,
        crop=crop,
    )
