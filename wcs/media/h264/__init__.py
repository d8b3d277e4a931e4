"""H.264: NAL units and access units, SPS parsing, RFC 6184 (de)packetization."""

from .depacketizer import DepacketizerStats, H264Depacketizer
from .nal import (
    AccessUnit,
    avc_decoder_configuration_record,
    format_sprop_parameter_sets,
    nal_type,
    parse_sprop_parameter_sets,
    split_annexb,
    split_avcc,
)
from .packetizer import H264Packetizer
from .sps import Sps, parse_sps, unescape_rbsp

__all__ = [
    "AccessUnit",
    "DepacketizerStats",
    "H264Depacketizer",
    "H264Packetizer",
    "Sps",
    "avc_decoder_configuration_record",
    "format_sprop_parameter_sets",
    "nal_type",
    "parse_sprop_parameter_sets",
    "parse_sps",
    "split_annexb",
    "split_avcc",
    "unescape_rbsp",
]
