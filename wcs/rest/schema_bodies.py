"""The request bodies of ``/rest-api/*``, declared once (see :mod:`wcs.rest.schema`)."""

from __future__ import annotations

from wcs.media.dtmf import MAX_DIGITS, TYPES
from wcs.media.sound import MAX_NAME
from wcs.rest.schema import TEXT, Body, Field

# Character sets: TEXT without what would break the place the value goes to.
CALL_ID = r"[A-Za-z0-9._~+!%*'()@:$,;=?&#\[\]-]"
SIP_USER = r"[^\u0000-\u0020\u007f<>@:;\"]"  # a plain user name
SIP_HOST = r"[^\u0000-\u0020\u007f<>@;\"/]"  # host[:port] or sip:host[:port]
CALLEE = r"[^\u0000-\u0020\u007f<>\"]"  # a user name or a SIP URI
QUOTABLE = r"[^\u0000-\u001f\u007f\"]"  # goes inside a quoted display name
STREAM = r"[^\u0000-\u001f\u007f/\\]"  # becomes a file name and a URL part
ASCII = r"[\u0020-\u007e]"
# scheme://host[:port]/app...: what the RTMP URL parser needs, as far as a pattern can say.
RTMP_URL = rf"^rtmps?://[^\u0000-\u0020\u007f/]+/{TEXT}+$"
RTMP_REFUSAL = "must parse as an RTMP URL with a host and an application"


def _text(name: str, max_len: int, **kw: object) -> Field:
    return Field(name, max_len=max_len, **kw)  # type: ignore[arg-type]


def _bool(name: str, description: str = "") -> Field:
    return Field(name, "boolean", description=description)


_ACCOUNT = (
    _text("sipLogin", 128, min_len=1, chars=SIP_USER),
    _text("sipAuthenticationName", 128),
    _text("sipPassword", 256, write_only=True),
    _text("sipDomain", 255, chars=SIP_HOST),
    _text("sipOutboundProxy", 255, chars=SIP_HOST),
    Field("sipPort", "integer", minimum=1, maximum=65535),
    Field(
        "sipTransport",
        enum=("UDP", "TCP", "TLS", "udp", "tcp", "tls"),
        description="TLS (our extension, RFC 3261 §26): default port 5061",
    ),
)
_ACCOUNT_REFUSALS = {
    "sipDomain": "required unless sipOutboundProxy is given; must be a SIP host[:port]",
    "sipOutboundProxy": "must be a SIP host[:port] or sip: URI",
}

CALL_STARTUP = Body(
    "CallStartup",
    (
        _text("callId", 256, required=True, min_len=1, chars=CALL_ID),
        _text("callee", 256, required=True, min_len=1, chars=CALLEE,
              description="user name or sip: URI"),
        _text("toStream", 200, min_len=1, chars=STREAM),
        *_ACCOUNT,
        _bool("sipRegisterRequired"),
        _text("visibleName", 128, chars=QUOTABLE),
        _text("appKey", 128),
        _text("rtmpUrl", 1024, pattern=RTMP_URL),
        _text("rtmpStream", 256),
        _bool("hasAudio"),
        _bool("hasVideo"),
        Field("custom", "object"),
        Field("sipSrtp", enum=("off", "optional", "mandatory", "dtls"),
              description="our extension: SRTP toward the SIP peer, SDES keys (optional, "
                          "mandatory) or DTLS-SRTP (dtls); default: the sip_srtp setting "
                          "(optional over TLS, off over UDP/TCP)"),
    ),
    description=(
        "sipLogin and sipDomain (or sipOutboundProxy) are required, except for the demo "
        "callee: callee 'demo' with no sipDomain reaches the built-in demo endpoint "
        "when the demo_callee setting is on."
    ),
    refusals={
        "callee": "must form a SIP URI (RFC 3261) with sipDomain; a sips: URI needs "
                  "sipTransport TLS",
        "sipLogin": "required unless the call goes to the demo callee",
        **_ACCOUNT_REFUSALS,
        "rtmpUrl": RTMP_REFUSAL,
        "custom": "strings must not hold lone surrogates",
    },
)  # fmt: skip

CALL_FILTER = Body(
    "CallFilter",
    (
        _text("callId", 256),
        _text("callee", 256),
        _text("status", 32),
        _text("rtmpUrl", 1024),
        _bool("finished", "our extension: also the last 256 calls that ended, with their "
                          "final status (WCS answers 404)"),
    ),
)  # fmt: skip

CALL_ID_BODY = Body("CallId", (_text("callId", 256, required=True, min_len=1),))

STREAM_FILTER = Body(
    "StreamFilter",
    (
        _text("name", 200),
        _text("mediaSessionId", 64),
        Field("mediaSessionIds", "array", max_len=64),
        _bool("published"),
        _text("status", 32),
    ),
)

PUSH_STARTUP = Body(
    "PushStartup",
    (
        _text("streamName", 200, required=True, min_len=1, chars=STREAM),
        _text("rtmpUrl", 2048, required=True, pattern=RTMP_URL),
        _bool("rtmpTransponderFullUrl"),
        _text("rtmpFlashVersion", 128, chars=ASCII),
        Field("options", "object", fields=(_text("action", 32),)),
    ),
    refusals={"rtmpUrl": RTMP_REFUSAL, "options": "strings must not hold lone surrogates"},
)

PUSH_FILTER = Body(
    "PushFilter",
    (_text("streamName", 200), _text("rtmpUrl", 2048), _text("mediaSessionId", 64)),
)

MEDIA_SESSION_ID = Body("MediaSessionId", (_text("mediaSessionId", 64, required=True, min_len=1),))


def _sound(name: str, owner: Field, file_field: str, refusal: str, description: str = "") -> Body:
    """A body naming a sound file of sounds_dir to play into something (a push, a call)."""
    return Body(
        name,
        (
            owner,
            _text(file_field, MAX_NAME, required=True, min_len=1,
                  description="a file name (no path) in sounds_dir"),
            _bool("loop"),
        ),
        description=description,
        refusals={file_field: refusal},
    )  # fmt: skip


_DECODES = "must name a sound file in sounds_dir that decodes"
_MSID = _text("mediaSessionId", 64, required=True, min_len=1)
_CALL_ID = _text("callId", 256, required=True, min_len=1)
SOUND_ON = _sound("SoundOn", _MSID, "soundFile", _DECODES)

CALL_SEND_DTMF = Body(
    "CallSendDtmf",
    (
        _CALL_ID,
        _text("dtmf", MAX_DIGITS, required=True, min_len=1, chars=r"[0-9*#A-Da-d]",
              description="keys sent in order, with the inter-digit gap"),
        Field("type", enum=TYPES, description="RFC2833 (default): RFC 4733 events; "
              "INFO: application/dtmf-relay; INFO_RELAY: application/dtmf"),
    ),
    refusals={
        "type": "RFC2833 needs telephone-event in the call's answer (use INFO)",
        "dtmf": f"more than {MAX_DIGITS} keys waiting for the call",
    },
)  # fmt: skip

CALL_INJECT_SOUND = _sound(
    "CallInjectSound",
    _CALL_ID,
    "fileName",
    f"{_DECODES} (<= 300 s)",
    "The sound replaces the silence we send to the SIP peer.",
)

CALL_INJECT_STREAM = Body(
    "CallInjectStream",
    (
        _CALL_ID,
        _text("streamName", 200, required=True, min_len=1, chars=STREAM,
              description="a published stream (a browser's, a WHIP publisher's, a call's)"),
    ),
    description="The stream's audio replaces the silence we send to the SIP peer, in the "
                "call's codec, until /call/inject_stream/terminate or the stream ends.",
)  # fmt: skip

CALL_TRANSFER = Body(
    "CallTransfer",
    (
        _CALL_ID,
        _text("target", 512, required=True, min_len=1, chars=CALLEE,
              description="sip: URI, user@host, or a number in the call's domain"),
    ),
    description="Our extension: blind transfer (REFER).",
    refusals={"target": "must form a SIP URI (with the call's domain for a number)"},
)  # fmt: skip

_RECORDED = (_text("mediaSessionId", 64), _text("streamName", 200))
_EITHER = {"mediaSessionId": "mediaSessionId or streamName is required"}

RECORDER_STARTUP = Body(
    "RecorderStartup",
    (
        *_RECORDED,
        Field("config", "object", fields=(_text("fileTemplate", 512), _text("rotation", 32))),
    ),
    description="mediaSessionId of the stream, or (our extension) its streamName.",
    refusals={
        **_EITHER,
        "config": "strings must not hold lone surrogates",
        "config.fileTemplate": "must be a valid file template (docs/recording.md)",
        "config.rotation": "must be a rotation: a size (10MB) or a duration (5m)",
    },
)

RECORDER_STOP = Body("RecorderStop", _RECORDED, refusals=_EITHER)

# What an incoming call becomes (issue 12; our extension, not in WCS).
DISPATCH = (
    _text("toStream", 200, min_len=1, chars=STREAM,
          description="stream name template: {caller}, {callee}, {callId}, {date}; "
                      "default {callee}-{caller}; a taken name gets -2, -3..."),
    _bool("hasAudio"),
    _bool("hasVideo"),
    _bool("record", "record the stream (as record_sip_streams does)"),
    _text("rtmpUrl", 1024, pattern=RTMP_URL),
    Field("answer", enum=("auto", "ring", "hook"),
          description="auto: answer at once; ring: wait for /call/answer or /call/reject; "
                      "hook: ask the appKey's backend (IncomingCallEvent)"),
    _text("appKey", 128),
    Field("ringTimeout", "integer", minimum=1, maximum=3600),
    Field("hookTimeout", "integer", minimum=1, maximum=60),
    Field("hookDefault", enum=("accept", "reject")),
    _text("pin", 16, min_len=1, pattern=r"^[0-9*A-Da-d]+$", write_only=True,
          description="the caller must key this PIN and # (RFC 4733 or SIP INFO) before the "
                      "stream is published; wrong or missing: hang up, FAILED"),
    Field("pinTimeout", "integer", minimum=1, maximum=300,
          description="seconds to key the PIN; default: the inbound_pin_timeout setting"),
)  # fmt: skip

SIP_REGISTER = Body(
    "SipRegister",
    (
        _text("registrationId", 128, min_len=1, chars=CALL_ID,
              description="generated when absent"),
        *_ACCOUNT,
        Field("expires", "integer", minimum=10, maximum=86400),
        *DISPATCH,
    ),
    description="Our extension: register an account of ours so that calls to it reach the "
                "server and become streams (docs/receiving-calls.md).",
    refusals={
        "sipLogin": "required",
        **_ACCOUNT_REFUSALS,
        "rtmpUrl": RTMP_REFUSAL,
    },
)  # fmt: skip

SIP_TRUNK = Body(
    "SipTrunk",
    (
        _text("name", 128, required=True, min_len=1),
        Field("allow", "array", max_len=64, description="source addresses or CIDRs"),
        _text("username", 128),
        _text("password", 256, write_only=True),
        _text("realm", 128),
        Field(
            "algorithms",
            "array",
            max_len=16,
            description="digest algorithms challenged with, first preferred: SHA-256, "
            "MD5 (default both, SHA-256 first)",
        ),
        Field("numbers", "array", max_len=1000, description="callees served; empty: any"),
        *DISPATCH,
    ),
    description="[[sip_trunk]] in the config file: who may call without a registration.",
    refusals={
        "allow": "must be addresses or CIDRs; an allow list, credentials or both",
        "algorithms": "SHA-256 and/or MD5",
        "rtmpUrl": RTMP_REFUSAL,
    },
)

REGISTRATION_ID = Body("RegistrationId", (_text("registrationId", 128, required=True, min_len=1),))
REGISTRATION_FILTER = Body(
    "RegistrationFilter",
    (_text("registrationId", 128), _text("sipLogin", 128), _text("status", 32)),
)
CALL_REJECT = Body(
    "CallReject",
    (
        _text("callId", 256, required=True, min_len=1),
        Field("status", "integer", minimum=400, maximum=699, description="default 486"),
    ),
)

BODIES = (
    CALL_STARTUP,
    CALL_FILTER,
    CALL_ID_BODY,
    STREAM_FILTER,
    PUSH_STARTUP,
    PUSH_FILTER,
    MEDIA_SESSION_ID,
    SOUND_ON,
    CALL_SEND_DTMF,
    CALL_INJECT_SOUND,
    CALL_INJECT_STREAM,
    CALL_TRANSFER,
    RECORDER_STARTUP,
    RECORDER_STOP,
    SIP_REGISTER,
    REGISTRATION_ID,
    REGISTRATION_FILTER,
    CALL_REJECT,
)
