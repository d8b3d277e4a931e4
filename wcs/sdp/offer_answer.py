"""RFC 3264 offer/answer: build our offer, negotiate the answer to it, answer a remote offer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .codecs import default_audio_codecs, default_video_codecs, select_codecs
from .direction import answer_direction, direction_of, is_hold, zero_address_hold
from .errors import SdpError
from .fmtp import format_fmtp
from .h264 import H264ProfileLevel, h264_answer_level, h264_packetization_mode, h264_profile_level
from .media import MediaDescription
from .model import DIRECTIONS, Codec, ConnectionData, Origin, SsrcAttribute
from .session import SessionDescription

_NO_MAIN_CODEC = ("telephone-event", "cn", "red", "ulpfec", "flexfec-03", "rtx")


def build_offer(
    local_ip: str,
    audio_port: int | None,
    video_port: int | None = None,
    *,
    has_video: bool | None = None,
    direction: str = "sendrecv",
    session_id: int | str = 0,
    session_version: int = 0,
    audio_codecs: Sequence[Codec] | None = None,
    video_codecs: Sequence[Codec] | None = None,
    rtcp_mux: bool = False,
    ptime: int | None = 20,
    cname: str | None = None,
    audio_ssrc: int | None = None,
    video_ssrc: int | None = None,
    session_name: str = "-",
) -> SessionDescription:
    """The SDP offer of our SIP INVITE: plain RTP/AVP, audio and (optionally) video."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}")
    addrtype = "IP6" if ":" in local_ip else "IP4"
    sd = SessionDescription(
        origin=Origin("-", str(session_id), session_version, "IN", addrtype, local_ip),
        name=session_name,
        connection=ConnectionData(local_ip, addrtype),
    )
    if audio_port is not None:
        audio = MediaDescription("audio", audio_port, "RTP/AVP", direction=direction)
        audio.codecs = [c.copy() for c in (audio_codecs or default_audio_codecs())]
        audio.ptime = ptime
        audio.rtcp_mux = rtcp_mux
        if cname and audio_ssrc is not None:
            audio.ssrcs.append(SsrcAttribute(audio_ssrc, "cname", cname))
        sd.media.append(audio)
    want_video = video_port is not None if has_video is None else has_video
    if want_video:
        if video_port is None:
            raise ValueError("has_video needs a video_port")
        video = MediaDescription("video", video_port, "RTP/AVP", direction=direction)
        video.codecs = [c.copy() for c in (video_codecs or default_video_codecs())]
        video.rtcp_mux = rtcp_mux
        if cname and video_ssrc is not None:
            video.ssrcs.append(SsrcAttribute(video_ssrc, "cname", cname))
        sd.media.append(video)
    return sd


@dataclass(slots=True)
class NegotiatedMedia:
    """One m-line after offer/answer, from our side.

    ``receive_codec`` is the codec the peer will send us: the first codec of the answer that
    we offered (baresip sends with the first common codec), with *our* payload type, which is
    what arrives on the wire; ``send_codec`` is the same format with the answer's payload type.
    """

    index: int
    kind: str
    rejected: bool
    direction: str  # ours, after negotiation: what *we* do
    remote_address: tuple[str, int] | None = None  # RTP goes there
    remote_rtcp_address: tuple[str, int] | None = None
    rtcp_mux: bool = False
    receive_codec: Codec | None = None
    send_codec: Codec | None = None
    codecs: list[tuple[Codec, Codec]] = field(default_factory=list)  # (ours, theirs), their order
    telephone_event: Codec | None = None  # ours (receive side)
    remote_ssrcs: list[int] = field(default_factory=list)
    remote_cname: str | None = None
    hold: bool = False

    @property
    def receive_payload_types(self) -> dict[int, Codec]:
        """Every payload type we may receive for this m-line, mapped to our codec."""
        table: dict[int, Codec] = {}
        for ours, theirs in self.codecs:
            table.setdefault(ours.payload_type, ours)
            table.setdefault(theirs.payload_type, ours)
        return table


_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly"}


def negotiate_answer(
    offer: SessionDescription, answer: SessionDescription
) -> list[NegotiatedMedia]:
    """Match a remote answer against our offer, m-line by m-line (RFC 3264 §6/§7)."""
    if len(answer.media) != len(offer.media):
        raise SdpError(f"answer has {len(answer.media)} m-lines, offer had {len(offer.media)}")
    result: list[NegotiatedMedia] = []
    for i, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
        if ours.kind != theirs.kind:
            raise SdpError(f"m-line {i}: answer has {theirs.kind}, offer had {ours.kind}")
        if ours.rejected or theirs.rejected:
            result.append(NegotiatedMedia(i, ours.kind, True, "inactive"))
            continue
        their_dir = direction_of(theirs, answer)
        conn = answer.connection_for(theirs)
        if conn is None:
            raise SdpError(f"m-line {i}: no c= line in the answer")
        host = conn.host
        if zero_address_hold(theirs, answer):  # RFC 2543 hold: they receive nothing
            their_dir = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(their_dir, their_dir)
        our_dir = _REVERSE.get(their_dir, "inactive")
        nm = NegotiatedMedia(
            i,
            ours.kind,
            False,
            our_dir,
            (host, theirs.port),
            rtcp_mux=ours.rtcp_mux and theirs.rtcp_mux,
            hold=is_hold(theirs, answer),
        )
        nm.remote_rtcp_address = _rtcp_address(theirs, host, nm.rtcp_mux)
        pairs = [(o, t) for t, o in select_codecs(theirs.codecs, ours.codecs)]
        nm.codecs = pairs
        for o, t in pairs:
            if o.name.lower() == "telephone-event":
                nm.telephone_event = nm.telephone_event or o
            elif nm.receive_codec is None and o.name.lower() not in _NO_MAIN_CODEC:
                nm.receive_codec, nm.send_codec = o, t
        if nm.receive_codec is None and ours.is_rtp:
            raise SdpError(f"m-line {i} ({ours.kind}): no codec in common with the offer")
        nm.remote_ssrcs = theirs.ssrc_values()
        nm.remote_cname = theirs.cname()
        result.append(nm)
    return result


def _rtcp_address(m: MediaDescription, host: str, mux: bool) -> tuple[str, int]:
    if mux:
        return (host, m.port)
    if m.rtcp is not None:
        return (m.rtcp.connection.host if m.rtcp.connection else host, m.rtcp.port)
    return (host, m.port + 1)


def answer_offer(
    remote_offer: SessionDescription,
    local_capabilities: Mapping[str, Sequence[Codec]],
    local_ip: str,
    ports: Mapping[str, int] | Sequence[int],
    *,
    direction: str = "sendrecv",
    session_id: int | str = 0,
    session_version: int = 0,
    rtcp_mux: bool | None = None,
    previous: SessionDescription | None = None,
) -> SessionDescription:
    """Answer a remote offer (re-INVITE, or an INVITE we receive), RFC 3264 §6.

    ``local_capabilities`` maps media kind → codecs we accept; ``ports`` maps kind (or m-line
    index) → our port. The answer keeps the offerer's codec order and payload types. A remote
    hold (sendonly, inactive, or c=0.0.0.0) is answered recvonly / inactive. ``previous``
    (our earlier answer or offer in this dialog) keeps the o= line and bumps its version.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}")
    addrtype = "IP6" if ":" in local_ip else "IP4"
    if previous is not None:
        origin = Origin(
            previous.origin.username,
            previous.origin.session_id,
            previous.origin.session_version + 1,
            "IN",
            addrtype,
            local_ip,
        )
    else:
        origin = Origin("-", str(session_id), session_version, "IN", addrtype, local_ip)
    sd = SessionDescription(origin=origin, name="-", connection=ConnectionData(local_ip, addrtype))
    for i, offered in enumerate(remote_offer.media):
        if isinstance(ports, Mapping):
            port = ports.get(offered.kind)
        else:
            port = ports[i] if i < len(ports) else None
        caps = local_capabilities.get(offered.kind) or []
        pairs = select_codecs(offered.codecs, caps) if offered.is_rtp else []
        usable = [p for p in pairs if p[0].name.lower() not in ("telephone-event",)]
        m = MediaDescription(offered.kind, 0, offered.proto)
        if offered.rejected or port is None or not usable:
            # Rejected: port 0, and one format from the offer so the m-line stays valid.
            m.codecs = [offered.codecs[0].copy()] if offered.codecs else []
            m.formats = list(offered.formats[:1])
            sd.media.append(m)
            continue
        m.port = port
        # Feedback both sides support: wildcard lines stay wildcards, the rest per codec.
        m.rtcp_fb_all = [fb for fb in offered.rtcp_fb_all if any(fb in c.rtcp_fb for c in caps)]
        for theirs, mine in pairs:
            c = theirs.copy()
            c.rtcp_fb = [
                fb
                for fb in mine.rtcp_fb
                if fb in offered.feedback(theirs) and fb not in m.rtcp_fb_all
            ]
            if c.name.lower() == "h264" and mine.fmtp is not None:
                c.fmtp = _h264_answer_fmtp(theirs, mine)
            m.codecs.append(c)
        offered_dir = direction_of(offered, remote_offer)
        if offered_dir == "sendrecv" and zero_address_hold(offered, remote_offer):
            offered_dir = "sendonly"  # RFC 2543 hold: the offerer will not receive
        m.direction = answer_direction(offered_dir, direction)
        m.ptime = offered.ptime if offered.kind == "audio" else None
        want_mux = offered.rtcp_mux if rtcp_mux is None else rtcp_mux and offered.rtcp_mux
        m.rtcp_mux = want_mux
        m.mid = offered.mid
        sd.media.append(m)
    return sd


def _h264_answer_fmtp(theirs: Codec, mine: Codec) -> str:
    """Offer's parameters with our level where lower (RFC 6184 §8.2.2)."""
    params = theirs.parameters
    plid = h264_profile_level(params)
    level = h264_answer_level(params, mine.fmtp)
    params["profile-level-id"] = str(H264ProfileLevel(plid.profile_idc, plid.profile_iop, level))
    params.setdefault("packetization-mode", str(h264_packetization_mode(theirs.fmtp)))
    return format_fmtp(params)
