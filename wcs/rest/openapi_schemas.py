"""The response schemas of the OpenAPI document (``components/schemas``): the WCS JSON shapes
that :mod:`wcs.rest.views` renders. Request schemas come from the body declarations."""

from __future__ import annotations

from typing import Any

from wcs.rest.schema import LENIENT_BOOLEAN

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


SCHEMAS: dict[str, Schema] = {
    "Registration": {
        "type": "object",
        "description": "Our extension (issue 12): a registration of one of our accounts. "
        "The password is never shown.",
        "required": ["registrationId", "status"],
        "properties": {
            "registrationId": {"type": "string"},
            "sipLogin": {"type": "string"},
            "sipDomain": {"type": "string"},
            "status": {"type": "string", "enum": ["REGISTERING", "REGISTERED", "FAILED"]},
            "info": nullable({"type": "string"}),
            "lastSipStatus": nullable({"type": "integer"}),
            "nextRefresh": nullable({"type": "integer", "description": "ms since the epoch"}),
            "nextRetry": nullable({"type": "integer", "description": "ms since the epoch"}),
            "attempts": {"type": "integer"},
            "toStream": {"type": "string"},
            "answer": {"type": "string", "enum": ["auto", "ring", "hook"]},
        },
    },
    "LenientBoolean": LENIENT_BOOLEAN,
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "what was wrong, for people"},
            "field": nullable({"type": "string", "description": "the offending field"}),
        },
    },
    "Call": {
        "type": "object",
        "required": ["callId", "status", "callee"],
        "properties": {
            "callId": {"type": "string"},
            "incoming": {"type": "boolean"},
            "status": {
                "type": "string",
                "enum": [
                    "PENDING",
                    "TRYING",
                    "RING",
                    "SESSION_PROGRESS",
                    "BUSY",
                    "ESTABLISHED",
                    "HOLD",
                    "FINISH",
                    "FAILED",
                ],
            },
            "sipStatus": nullable({"type": "integer"}),
            "info": nullable({"type": "string"}),
            "caller": nullable({"type": "string"}),
            "callee": {"type": "string"},
            "streamName": nullable({"type": "string"}),
            "rtmpUrl": nullable({"type": "string"}),
            "hasAudio": {"type": "boolean"},
            "hasVideo": {"type": "boolean"},
            "appKey": {"type": "string"},
            "custom": {"type": "object"},
            "injectedStream": nullable(
                {"type": "string", "description": "ours: the stream sent into the call"}
            ),
        },
    },
    "Stream": {
        "type": "object",
        "required": ["name", "status"],
        "properties": {
            "name": {"type": "string"},
            "mediaSessionId": nullable({"type": "string"}),
            "published": {"type": "boolean"},
            "status": {"type": "string"},
            "info": nullable({"type": "string"}),
            "hasAudio": {"type": "boolean"},
            "hasVideo": {"type": "boolean"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "packetsReceived": {"type": "integer"},
            "packetsLost": {"type": "integer"},
            "callId": nullable({"type": "string"}),
            "urls": {
                "type": "object",
                "description": "ours: where this stream plays, at the host the client asked",
                "properties": {
                    k: {"type": "string"} for k in ("webrtc", "whep", "hls", "hlsTls", "rtsp")
                },
            },
        },
    },
    "Transponder": {
        "type": "object",
        "required": ["mediaSessionId", "streamName", "rtmpUrl", "status"],
        "properties": {
            "mediaSessionId": {"type": "string"},
            "streamName": {"type": "string"},
            "sourceStreamName": {"type": "string"},
            "rtmpUrl": {"type": "string"},
            "status": {"type": "string"},
            "info": nullable({"type": "string"}),
            "muted": {"type": "boolean"},
            "soundEnabled": {"type": "boolean"},
        },
    },
    "Recording": {"type": "object"},
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {
                "type": "string",
                "enum": ["ok", "degraded", "draining"],
                "description": "degraded: in a cluster, Redis unreachable (local service goes "
                "on); draining: a SIGTERM with drain_timeout set (docs/cluster.md)",
            },
            "uptime": {"type": "number"},
            "calls": {"type": "integer"},
            "streams": {"type": "integer"},
            "cluster": {
                "type": "object",
                "x-extension": True,
                "description": "Only with cluster_redis_url (docs/cluster.md)",
                "properties": {
                    "nodeId": {"type": "string"},
                    "role": {"type": "string", "enum": ["origin", "edge", "both"]},
                    "redis": {"type": "string", "enum": ["ok", "degraded"]},
                    "nodes": {"type": "array", "items": {"type": "string"}},
                    "error": {"type": "string"},
                    "relay": {"type": "string"},
                    "relaysOut": {"type": "integer"},
                    "relaysIn": {"type": "integer"},
                },
            },
        },
    },
}
