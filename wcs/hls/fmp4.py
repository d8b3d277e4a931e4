"""CMAF fragmented MP4 (ISO/IEC 14496-12 + 23000-19): the init segment and media fragments.

The init segment (``ftyp`` + ``moov``) describes at most one H.264 track (``avc1`` with an
``avcC`` built from the stream's SPS/PPS) and one AAC-LC track (``mp4a`` with an ``esds``
carrying the AudioSpecificConfig); ``mvex``/``trex`` announce that samples come in
fragments. Each fragment is ``moof`` (``mfhd``, then per track ``traf``: ``tfhd`` with
default-base-is-moof, ``tfdt`` with the 64-bit decode time, ``trun`` with per-sample
duration, size and flags) followed by one ``mdat`` holding the tracks' samples in order.

H.264 samples are the access unit's NAL units with 4-byte length prefixes. Access unit
delimiters are dropped (14496-15 forbids them in samples) and so are parameter sets equal to
the sample entry's (they are there already); changed ones stay in band. Composition offsets
are always 0: SIP video has no B-frames.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wcs.media.h264 import avc_decoder_configuration_record, parse_sps
from wcs.media.h264.nal import NAL_AUD, NAL_PPS, NAL_SPS
from wcs.rtmp.flv import parse_audio_specific_config

from .boxes import UNITY_MATRIX, box, descriptor, full_box, language_code

VIDEO_TRACK_ID = 1
AUDIO_TRACK_ID = 2
VIDEO_TIMESCALE = 90000
AAC_FRAME_SAMPLES = 1024

# Sample flags (14496-12 8.8.3.1): sample_depends_on=2 for a sync sample; depends_on=1
# plus sample_is_non_sync_sample for the others.
SYNC_FLAGS = 0x02000000
NON_SYNC_FLAGS = 0x01010000

_U32 = struct.Struct("!I")
_SAMPLE = struct.Struct("!III")


@dataclass(frozen=True, slots=True)
class VideoConfig:
    """An H.264 track: SPS and PPS NAL units (no start codes); size read from the SPS."""

    sps: bytes
    pps: bytes
    width: int
    height: int

    @classmethod
    def from_parameter_sets(cls, sps: bytes, pps: bytes) -> VideoConfig:
        info = parse_sps(sps)  # ValueError on a broken SPS: no init segment without a size
        return cls(sps, pps, info.width, info.height)

    @property
    def codec_string(self) -> str:
        """RFC 6381 ``avc1.PPCCLL`` for the master playlist's CODECS."""
        return f"avc1.{self.sps[1]:02x}{self.sps[2]:02x}{self.sps[3]:02x}"


@dataclass(frozen=True, slots=True)
class AudioConfig:
    """An AAC track from its AudioSpecificConfig (what the AAC encoder reports)."""

    asc: bytes
    sample_rate: int
    channels: int
    object_type: int = 2

    @classmethod
    def from_asc(cls, asc: bytes) -> AudioConfig:
        try:
            obj, rate, channels = parse_audio_specific_config(asc)
        except Exception as exc:  # RtmpError: report it as what it is here, a bad config
            raise ValueError(str(exc)) from exc
        return cls(bytes(asc), rate, channels, obj)

    @property
    def codec_string(self) -> str:
        return f"mp4a.40.{self.object_type}"


@dataclass(frozen=True, slots=True)
class Sample:
    duration: int  # in the track's timescale
    data: bytes
    sync: bool = True


@dataclass(frozen=True, slots=True)
class TrackRun:
    """One track's samples in a fragment, starting at ``decode_time`` (track timescale)."""

    track_id: int
    decode_time: int
    samples: Sequence[Sample]


def avc_sample(nals: Iterable[bytes], config: VideoConfig | None = None) -> bytes:
    """An access unit as an MP4 sample: 4-byte length-prefixed NAL units."""
    out = bytearray()
    for nal in nals:
        if not nal:
            continue
        kind = nal[0] & 0x1F
        if kind == NAL_AUD:
            continue
        if config is not None and (
            (kind == NAL_SPS and nal == config.sps) or (kind == NAL_PPS and nal == config.pps)
        ):
            continue
        out += _U32.pack(len(nal))
        out += nal
    return bytes(out)


# ---------------------------------------------------------------- init segment


def _ftyp() -> bytes:
    return box(b"ftyp", b"iso6", _U32.pack(0), b"iso6cmfcmp41")


def _mvhd(next_track: int) -> bytes:
    return full_box(
        b"mvhd",
        0,
        0,
        struct.pack("!IIII", 0, 0, 1000, 0),
        struct.pack("!IH", 0x00010000, 0x0100),
        bytes(10),
        UNITY_MATRIX,
        bytes(24),
        _U32.pack(next_track),
    )


def _tkhd(track_id: int, audio: bool, width: int, height: int) -> bytes:
    return full_box(
        b"tkhd",
        0,
        3,  # enabled, in movie
        struct.pack("!IIIII", 0, 0, track_id, 0, 0),
        bytes(8),
        struct.pack("!hhHH", 0, 0, 0x0100 if audio else 0, 0),
        UNITY_MATRIX,
        struct.pack("!II", width << 16, height << 16),
    )


def _dinf() -> bytes:
    return box(b"dinf", full_box(b"dref", 0, 0, _U32.pack(1), full_box(b"url ", 0, 1)))


def _empty_tables(entry: bytes) -> bytes:
    return box(
        b"stbl",
        full_box(b"stsd", 0, 0, _U32.pack(1), entry),
        full_box(b"stts", 0, 0, _U32.pack(0)),
        full_box(b"stsc", 0, 0, _U32.pack(0)),
        full_box(b"stsz", 0, 0, _U32.pack(0), _U32.pack(0)),
        full_box(b"stco", 0, 0, _U32.pack(0)),
    )


def _trak(
    track_id: int,
    timescale: int,
    handler: bytes,
    media_header: bytes,
    entry: bytes,
    width: int = 0,
    height: int = 0,
) -> bytes:
    audio = handler == b"soun"
    name = b"SoundHandler\x00" if audio else b"VideoHandler\x00"
    mdhd = full_box(b"mdhd", 0, 0, struct.pack("!IIIIHH", 0, 0, timescale, 0, language_code(), 0))
    hdlr = full_box(b"hdlr", 0, 0, _U32.pack(0), handler, bytes(12), name)
    minf = box(b"minf", media_header, _dinf(), _empty_tables(entry))
    return box(b"trak", _tkhd(track_id, audio, width, height), box(b"mdia", mdhd, hdlr, minf))


def _avc1(video: VideoConfig) -> bytes:
    avcc = box(b"avcC", avc_decoder_configuration_record(video.sps, video.pps))
    return box(
        b"avc1",
        bytes(6),
        struct.pack("!H", 1),  # data_reference_index
        bytes(16),  # pre_defined, reserved, pre_defined[3]
        struct.pack("!HHII", video.width, video.height, 0x00480000, 0x00480000),
        _U32.pack(0),
        struct.pack("!H", 1),  # frame_count
        bytes(32),  # compressorname
        struct.pack("!Hh", 0x0018, -1),
        avcc,
    )


def _mp4a(audio: AudioConfig, track_id: int) -> bytes:
    decoder_config = descriptor(
        0x04,
        bytes((0x40, 0x15))  # objectTypeIndication: MPEG-4 audio; streamType 5 (audio) << 2 | 1
        + bytes(3)  # bufferSizeDB
        + struct.pack("!II", 0, 0)  # max/avg bitrate: unknown
        + descriptor(0x05, audio.asc),
    )
    es = descriptor(0x03, struct.pack("!HB", track_id, 0) + decoder_config + descriptor(6, b"\x02"))
    return box(
        b"mp4a",
        bytes(6),
        struct.pack("!H", 1),
        bytes(8),
        struct.pack("!HHHH", audio.channels, 16, 0, 0),
        _U32.pack((audio.sample_rate & 0xFFFF) << 16),
        full_box(b"esds", 0, 0, es),
    )


def init_segment(video: VideoConfig | None, audio: AudioConfig | None) -> bytes:
    """``ftyp`` + ``moov`` for the given tracks (video is track 1, audio track 2)."""
    if video is None and audio is None:
        raise ValueError("an init segment needs at least one track")
    traks: list[bytes] = []
    trexs: list[bytes] = []
    if video is not None:
        vmhd = full_box(b"vmhd", 0, 1, bytes(8))
        traks.append(
            _trak(
                VIDEO_TRACK_ID,
                VIDEO_TIMESCALE,
                b"vide",
                vmhd,
                _avc1(video),
                video.width,
                video.height,
            )
        )
        trexs.append(_trex(VIDEO_TRACK_ID))
    if audio is not None:
        smhd = full_box(b"smhd", 0, 0, bytes(4))
        traks.append(
            _trak(AUDIO_TRACK_ID, audio.sample_rate, b"soun", smhd, _mp4a(audio, AUDIO_TRACK_ID))
        )
        trexs.append(_trex(AUDIO_TRACK_ID))
    moov = box(b"moov", _mvhd(AUDIO_TRACK_ID + 1), *traks, box(b"mvex", *trexs))
    return _ftyp() + moov


def _trex(track_id: int) -> bytes:
    return full_box(b"trex", 0, 0, struct.pack("!IIIII", track_id, 1, 0, 0, 0))


# ---------------------------------------------------------------- media fragments

_TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400  # offset, duration, size, flags
_TFHD_BASE_IS_MOOF = 0x020000


def _traf(run: TrackRun, data_offset: int) -> bytes:
    entries = b"".join(
        _SAMPLE.pack(s.duration, len(s.data), SYNC_FLAGS if s.sync else NON_SYNC_FLAGS)
        for s in run.samples
    )
    return box(
        b"traf",
        full_box(b"tfhd", 0, _TFHD_BASE_IS_MOOF, _U32.pack(run.track_id)),
        full_box(b"tfdt", 1, 0, struct.pack("!Q", run.decode_time)),
        full_box(
            b"trun", 0, _TRUN_FLAGS, struct.pack("!Ii", len(run.samples), data_offset), entries
        ),
    )


def _moof(sequence: int, runs: Sequence[TrackRun], offsets: Sequence[int]) -> bytes:
    mfhd = full_box(b"mfhd", 0, 0, _U32.pack(sequence))
    return box(b"moof", mfhd, *(_traf(r, o) for r, o in zip(runs, offsets, strict=True)))


def media_fragment(sequence: int, runs: Sequence[TrackRun]) -> bytes:
    """``moof`` + ``mdat`` for the runs (tracks without samples are left out)."""
    runs = [r for r in runs if r.samples]
    if not runs:
        raise ValueError("a fragment needs at least one sample")
    sizes = [sum(len(s.data) for s in r.samples) for r in runs]
    # The trun data offsets depend on the moof's own size, which does not depend on them.
    moof_size = len(_moof(sequence, runs, [0] * len(runs)))
    offsets: list[int] = []
    pos = moof_size + 8
    for size in sizes:
        offsets.append(pos)
        pos += size
    mdat = box(b"mdat", *(s.data for r in runs for s in r.samples))
    return _moof(sequence, runs, offsets) + mdat
