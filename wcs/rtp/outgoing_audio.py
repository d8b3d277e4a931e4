"""A call's outgoing audio stream (sans-IO): one packet per ptime — a DTMF event, a frame of
an injected sound, or silence — on one SSRC with continuous sequence numbers and clock.

The slot cadence is the call's ptime, on a grid of the monotonic clock that every call with
that ptime shares (:func:`wcs.sansio.on_grid`): however many calls run, their slots wake the
process once per ptime. For each due slot, in order of precedence:

1. a DTMF event packet (:class:`~wcs.rtp.dtmf.DtmfSender`): audio pauses while a key is on
   the wire (RFC 4733 §2.5.1.2); the sound, if any, resumes where it was;
2. the next frame of the injected sound (a :class:`~wcs.media.sound.SoundCursor` over a
   clip, looped or once), encoded in the call's codec; a clip played once ends in silence
   and a :class:`SoundEnded` event;
3. one ptime of an injected live source (``inject``: a stream of the server through
   :class:`~wcs.app.live_audio.LiveAudio`, ``/call/inject_stream``), encoded in the call's
   codec; a sound played meanwhile takes its place and the stream resumes after it; a slot
   the source cannot fill (not enough buffered) is silence;
4. silence (when ``send_silence``; otherwise the slot passes without a packet, the clock
   still runs so the next packet's timestamp tells the peer how long we were quiet).

A slot that would be pure silence may go out up to ``silence_early`` s before its time on a
wake-up that happens anyway (:meth:`OutgoingAudio.send_early`, called when a packet from the
peer arrives): with one live call that spares the process a wake-up per ptime, which is most
of the cost of sending silence. The timestamps stay those of the slots; only the send time
moves, by less than a ptime, which a receiver's jitter buffer absorbs. Sounds, injected audio
and DTMF keep their exact slot times.

While ``sending`` is False (the peer put us on hold: its answer is ``sendonly``/``inactive``
for us) no packet goes out but the clock and the sound run on. After a stall (the event loop
late) at most :data:`CATCH_UP` slots are sent at once; the rest are skipped in time.

Contract: ``get_timer()``, ``handle_timer(now)``, ``packets_to_send(now)`` (RTP bytes; the
edge sends them to the peer's latched address), ``next_event()``; ``send_early(now)`` on any
other wake-up.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from wcs import sdp
from wcs.media.dtmf import DtmfError, DtmfSettings
from wcs.media.frame_encoder import FrameEncoder, encoder_for
from wcs.media.sound import SoundClip, SoundCursor
from wcs.rtp.dtmf import DtmfSender, DtmfSent
from wcs.rtp.send_state import SendState
from wcs.sansio import on_grid
from wcs.sdp.telephone_event import event_send_format

CATCH_UP = 3

FINISHED = "finished"  # a clip played once reached its end
STOPPED = "stopped"  # stop_sound(), or stop()
REPLACED = "replaced"  # another play() took its place


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """What a call's outgoing audio sends: its codec, RTP clock units per packet, and the
    PCM rate its encoder takes."""

    codec: str
    step: int
    pcm_rate: int


class PcmSource(Protocol):
    """A live source (an injected stream): 16-bit mono PCM, or payloads already in the
    call's codec and framing (passed through without decoding)."""

    name: str

    def take_encoded(self, fmt: AudioFormat) -> bytes | None: ...
    def take(self, samples: int, rate: int) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class SoundEnded:
    name: str
    reason: str  # FINISHED, STOPPED, REPLACED


class OutgoingAudio:
    def __init__(
        self,
        encoder: FrameEncoder,
        payload_type: int,
        state: SendState,
        *,
        ptime_ms: int = 20,
        send_silence: bool = True,
        silence_early: float = 0.0,
        dtmf: DtmfSender | None = None,
    ) -> None:
        if dtmf is not None and dtmf.step != encoder.step:
            raise ValueError("telephone-event must run on the audio's clock and ptime")
        self.encoder = encoder
        self.format = AudioFormat(encoder.name, encoder.step, encoder.pcm_rate)
        self.payload_type = payload_type
        self.state = state
        self.interval = ptime_ms / 1000
        self.send_silence = send_silence
        # Less than a ptime: a silence slot never leaves more than one slot ahead.
        self.silence_early = min(max(silence_early, 0.0), self.interval)
        self.dtmf = dtmf
        self.dtmf_settings: DtmfSettings | None = dtmf.settings if dtmf is not None else None
        self.sending = True
        self._next: float | None = None
        self._woken = False  # play()/send_dtmf() while quiet: skip the silent time once
        self._sound: SoundCursor | None = None
        self._live: PcmSource | None = None
        self._out: list[bytes] = []
        self._events: deque[SoundEnded | DtmfSent] = deque()
        self.sound_frames = 0
        self.live_frames = 0
        self.dtmf_packets = 0
        self.skipped_slots = 0
        self.early_slots = 0  # silence sent ahead of its slot on another wake-up

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """The peer's address is known: the first slot is the next one of the ptime grid
        every call shares, so all calls' slots fire in one loop iteration."""
        if self._next is None:
            self._next = on_grid(now, self.interval)

    def stop(self) -> None:
        self._next = None
        self.stop_sound()
        self._live = None

    # -- actions -----------------------------------------------------------------------------

    def play(self, clip: SoundClip, loop: bool) -> None:
        """Put ``clip`` in place of silence from the next slot (replacing a playing one)."""
        if self._sound is not None:
            self._events.append(SoundEnded(self._sound.clip.name, REPLACED))
        self._woken = self.quiet
        self._sound = SoundCursor(clip, loop)

    def stop_sound(self) -> bool:
        """Back to silence; False when no sound was playing."""
        if self._sound is None:
            return False
        self._events.append(SoundEnded(self._sound.clip.name, STOPPED))
        self._sound = None
        return True

    @property
    def sound(self) -> str | None:
        """Name of the clip playing, None when silent."""
        return self._sound.clip.name if self._sound is not None else None

    def inject(self, source: PcmSource | None) -> PcmSource | None:
        """Send ``source`` in place of silence from the next slot (None: silence again);
        returns the source it replaced."""
        self._woken = self.quiet
        old, self._live = self._live, source
        return old

    @property
    def live(self) -> PcmSource | None:
        return self._live

    def send_dtmf(self, digits: str, tone_ms: int | None = None) -> None:
        """Queue keys as RFC 4733 events; DtmfError for bad keys or when the answer has no
        telephone-event (the caller then uses SIP INFO or refuses)."""
        if self.dtmf is None:
            raise DtmfError("the peer did not accept telephone-event (RFC 4733) for this call")
        woken = self.quiet
        self.dtmf.queue(digits, tone_ms)
        self._woken = woken

    def renegotiated(self, media: sdp.NegotiatedMedia) -> None:
        """A new answer (re-INVITE): the answer's payload types for audio and events. The
        codec itself stays (a re-offer without the running codec is refused)."""
        if media.send_codec is not None:
            self.payload_type = media.send_codec.payload_type
        fmt = event_send_format(media)
        if fmt is None or fmt.clock_rate != self.encoder.clock_rate:
            if self.dtmf is None or self.dtmf.idle:
                self.dtmf = None
        elif self.dtmf is None:
            self.dtmf = DtmfSender(
                fmt.payload_type, fmt.clock_rate, self.encoder_ptime_ms, self.dtmf_settings
            )
        else:
            self.dtmf.payload_type = fmt.payload_type

    @property
    def encoder_ptime_ms(self) -> int:
        return round(self.interval * 1000)

    # -- the contract ------------------------------------------------------------------------

    @property
    def quiet(self) -> bool:
        """Nothing to send in any slot (no silence wanted, no sound, no key): no timer runs,
        nothing polls; the clock catches up when something is queued."""
        return not self.send_silence and self._nothing_but_silence()

    def _nothing_but_silence(self) -> bool:
        """No sound, no injected source and no key to send: a slot is silence or nothing."""
        return self._sound is None and self._live is None and (self.dtmf is None or self.dtmf.idle)

    def get_timer(self) -> float | None:
        return None if self.quiet else self._next

    def handle_timer(self, now: float) -> None:
        if self._next is None or now < self._next:
            return
        if now - self._next >= self.interval and self._woken:
            # Quiet until now: the missed slots pass in time, the new audio starts at once.
            missed = math.floor((now - self._next) / self.interval + 1e-6)
            self.state.skip(missed * self.encoder.step)
            self._next += missed * self.interval
        self._woken = False
        for _ in range(CATCH_UP):
            if now < self._next:
                break
            self._slot()
            self._next += self.interval
        if self._next < now:  # a long stall: skip the missed slots in time, not in packets
            missed = math.ceil((now - self._next) / self.interval - 1e-6)
            self.state.skip(missed * self.encoder.step)
            self.skipped_slots += missed
            self._next += missed * self.interval

    def send_early(self, now: float) -> bool:
        """A wake-up for something else (a packet from the peer): the next slot goes now if it
        is silence due within ``silence_early`` s. True when a packet is ready to send."""
        nxt = self._next  # most packets find the next slot outside the window: first test
        if nxt is None or nxt - now >= self.silence_early or nxt <= now:
            return False
        if not (self.send_silence and self.sending and self._nothing_but_silence()):
            return False
        self.handle_timer(nxt)  # exactly that slot, as its timer would have sent it
        self.early_slots += 1
        return True

    def rtp_time(self, now: float) -> int:
        """The stream's RTP clock at ``now`` (an RTCP SR pairs it with the wallclock, RFC 3550
        §6.4.1): the next slot's timestamp less the time until that slot is due."""
        if self._next is None:
            return self.state.timestamp
        behind = round((self._next - now) / self.interval * self.encoder.step)
        return (self.state.timestamp - behind) & 0xFFFFFFFF

    def packets_to_send(self, now: float) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> SoundEnded | DtmfSent | None:
        if self.dtmf is not None:
            sent = self.dtmf.next_event()
            if sent is not None:
                return sent
        return self._events.popleft() if self._events else None

    # -- one slot ----------------------------------------------------------------------------

    def _slot(self) -> None:
        state, enc = self.state, self.encoder
        if self.dtmf is not None and self.sending:  # on hold, keys wait (an event pauses)
            packet = self.dtmf.take(state)
            if packet is not None:
                self.dtmf_packets += 1
                self._out.append(packet)
                return
        payload: bytes | None = None
        if self._sound is not None:
            pcm = self._sound.take(enc.pcm_samples, enc.pcm_rate)
            if pcm is None:
                self._events.append(SoundEnded(self._sound.clip.name, FINISHED))
                self._sound = None
            else:
                payload = enc.encode(pcm)
                self.sound_frames += 1
        if payload is None and self._sound is None and self._live is not None:
            payload = self._live.take_encoded(self.format)
            pcm = self._live.take(enc.pcm_samples, enc.pcm_rate) if payload is None else None
            if pcm is not None:
                payload = enc.encode(pcm)
            if payload is not None:
                self.live_frames += 1
        if payload is None and self.send_silence:
            payload = enc.silence()
        if payload is None or not self.sending:
            state.skip(enc.step)
            return
        self._out.append(state.packet(self.payload_type, payload, enc.step))


def outgoing_audio_for(
    media: sdp.NegotiatedMedia,
    state: SendState,
    *,
    send_silence: bool = True,
    silence_early: float = 0.0,
    dtmf: DtmfSettings | None = None,
) -> OutgoingAudio | None:
    """The outgoing audio of a negotiated audio m-line; None when we cannot encode its send
    codec (then nothing but RTCP goes out on it, as before sounds and DTMF existed)."""
    codec = media.send_codec
    if codec is None:
        return None
    try:
        encoder = encoder_for(codec.name)
    except ValueError:
        return None
    audio = OutgoingAudio(
        encoder, codec.payload_type, state, send_silence=send_silence, silence_early=silence_early
    )
    audio.dtmf_settings = dtmf
    audio.renegotiated(media)
    return audio
