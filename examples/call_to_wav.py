#!/usr/bin/env python3
"""Place a SIP call with the wcs library and save what the callee sends.

The audio (PCMU or PCMA) goes to a WAV file (8 kHz, 16-bit mono); with ``--video`` the H.264
video is written as an Annex-B ``.h264`` file (play it with ``ffplay``).

    python examples/call_to_wav.py --domain 127.0.0.1 --port 5060 --callee 1002 \\
        --login 1001 --password secret --seconds 5 --out call.wav

The library pieces used: ``wcs.sip.UserAgent`` (the sans-IO SIP core) with its asyncio edge
``wcs.sip.SipTransport``, ``wcs.sdp`` for the offer and the answer, ``wcs.rtp.RtpPacket``,
``wcs.media.g711`` and ``wcs.media.h264.H264Depacketizer``.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import wave
from dataclasses import dataclass, field

from wcs import sdp
from wcs.media.g711 import alaw_decode, ulaw_decode
from wcs.media.h264 import H264Depacketizer
from wcs.rtp import RtpError, RtpPacket
from wcs.sip import Account, SipTransport, UserAgent
from wcs.sip import events as ev


@dataclass
class Received:
    """What came in on one m-line."""

    packets: int = 0
    payloads: dict[int, list[bytes]] = field(default_factory=dict)


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, sink: Received, depacketizer: H264Depacketizer | None) -> None:
        self.sink = sink
        self.depacketizer = depacketizer
        self.video = bytearray()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return  # RTCP or junk
        if 72 <= packet.payload_type <= 76:
            return  # RTCP on the RTP port (rtcp-mux style)
        self.sink.packets += 1
        self.sink.payloads.setdefault(packet.payload_type, []).append(packet.payload)
        if self.depacketizer is not None:
            for au in self.depacketizer.push(
                packet.payload, packet.sequence, packet.timestamp, packet.marker
            ):
                self.video += au.annexb()


async def record_call(
    *,
    domain: str,
    port: int,
    callee: str,
    login: str,
    password: str = "",
    outbound_proxy: str = "",
    seconds: float,
    wav_path: str,
    video_path: str | None = None,
    local_ip: str = "127.0.0.1",
) -> int:
    """Call, record for ``seconds`` after the answer, hang up. Returns a process exit code."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[ev.CallAnswered] = loop.create_future()
    ended: asyncio.Future[ev.Event] = loop.create_future()

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.CallRinging):
            print(f"ringing ({event.status} {event.reason})")
        elif isinstance(event, ev.CallAnswered) and not answered.done():
            answered.set_result(event)
        elif isinstance(event, ev.CallFailed | ev.CallReleased):
            for fut in (answered, ended):
                if not fut.done():
                    fut.set_result(event)  # type: ignore[arg-type]

    ua = UserAgent(local_port=0, public_ip=local_ip)
    sip = SipTransport(ua, local_ip, 0, on_event)
    await sip.start()
    audio = Received()
    video = Received()
    rtp_audio, _ = await loop.create_datagram_endpoint(
        lambda: _Rtp(audio, None), local_addr=(local_ip, 0), family=socket.AF_INET
    )
    depacketizer = H264Depacketizer() if video_path else None
    video_proto = _Rtp(video, depacketizer)
    rtp_video, _ = await loop.create_datagram_endpoint(
        lambda: video_proto, local_addr=(local_ip, 0), family=socket.AF_INET
    )
    try:
        offer = sdp.build_offer(
            local_ip,
            rtp_audio.get_extra_info("sockname")[1],
            rtp_video.get_extra_info("sockname")[1] if video_path else None,
            direction="recvonly",
        )
        account = Account(
            login=login, domain=domain, password=password, port=port,
            outbound_proxy=outbound_proxy,
        )  # fmt: skip
        ua.invite("call-1", account, callee, str(offer).encode(), sip.now())
        sip.wake()
        result = await asyncio.wait_for(answered, 30)
        if not isinstance(result, ev.CallAnswered):
            print(f"call failed: {getattr(result, 'status', None)} {result}", file=sys.stderr)
            return 1
        negotiated = sdp.negotiate_answer(offer, sdp.SessionDescription.parse(result.sdp or b""))
        print("answered; recording", seconds, "s")
        try:
            await asyncio.wait_for(asyncio.shield(ended), seconds)
            print("the callee hung up")
        except TimeoutError:
            ua.hangup("call-1", sip.now())
            sip.wake()
            await asyncio.wait_for(ended, 10)
        pcm = b""
        for m in negotiated:
            if m.kind != "audio" or m.rejected:
                continue
            # Our payload type and the answer's may both arrive for the same codec.
            for pt, codec in m.receive_payload_types.items():
                if codec.name.upper() in ("PCMU", "PCMA"):
                    decode = ulaw_decode if codec.name.upper() == "PCMU" else alaw_decode
                    pcm += b"".join(decode(c) for c in audio.payloads.get(pt, []))
        with wave.open(wav_path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(pcm)
        print(f"audio: {audio.packets} RTP packets, {len(pcm) // 2} samples -> {wav_path}")
        if video_path:
            with open(video_path, "wb") as f:
                f.write(video_proto.video)
            print(f"video: {video.packets} RTP packets, {len(video_proto.video)} bytes -> "
                  f"{video_path}")  # fmt: skip
        return 0 if pcm else 1
    finally:
        rtp_audio.close()
        rtp_video.close()
        await sip.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", required=True, help="SIP domain (or host) of the account")
    ap.add_argument("--port", type=int, default=5060, help="SIP port of the domain/proxy")
    ap.add_argument("--proxy", default="", help="outbound proxy host[:port]")
    ap.add_argument("--callee", required=True, help="user to call, or a sip: URI")
    ap.add_argument("--login", default="wcs-example")
    ap.add_argument("--password", default="")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out", default="call.wav", help="WAV file for the audio")
    ap.add_argument("--video", default=None, help="also save the H.264 video (Annex-B)")
    ap.add_argument("--local-ip", default="127.0.0.1", help="our address, in SIP and SDP")
    args = ap.parse_args(argv)
    return asyncio.run(
        record_call(
            domain=args.domain,
            port=args.port,
            callee=args.callee,
            login=args.login,
            password=args.password,
            outbound_proxy=args.proxy,
            seconds=args.seconds,
            wav_path=args.out,
            video_path=args.video,
            local_ip=args.local_ip,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
