"""The OpenAPI description of WHEP and WHIP (``/whep/...``, ``/whip/...``).

Both are standard protocols WCS's REST API does not have: every operation carries
``x-extension: true``. The session resources take ``PATCH`` with a trickle-ice-sdpfrag
(RFC 9725 4.3; :mod:`wcs.webrtc.trickle`); ICE restarts are refused with 422.
"""

from __future__ import annotations

from collections.abc import Callable

from wcs.rest.openapi_schemas import Schema

EXTENSION = "Our extension: WCS has no such REST endpoint."
SDP_BODY: Schema = {
    "required": True,
    "content": {"application/sdp": {"schema": {"type": "string"}}},
}
SDPFRAG_BODY: Schema = {
    "required": True,
    "content": {"application/trickle-ice-sdpfrag": {"schema": {"type": "string"}}},
}


def _op(operation_id: str, summary: str, tag: str, params: list[Schema], **rest: Schema) -> Schema:
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": EXTENSION,
        "x-extension": True,
        "tags": [tag],
        "parameters": params,
        **rest,
    }


def webrtc_paths(error: Callable[[str], Schema], empty_200: Schema) -> dict[str, dict[str, Schema]]:
    stream_param: Schema = {"name": "stream", "in": "path", "required": True,
                            "schema": {"type": "string", "minLength": 1}}  # fmt: skip
    id_param: Schema = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    session = [stream_param, id_param]
    created = {
        "description": "the SDP answer; Location names the session, ETag its ICE one",
        "headers": {
            "Location": {"schema": {"type": "string"}},
            "ETag": {"schema": {"type": "string"}},
        },
        "content": {"application/sdp": {"schema": {"type": "string"}}},
    }

    def patch(prefix: str, tag: str) -> Schema:
        return _op(
            f"{prefix}_trickle",
            f"{prefix.upper()}: trickle ICE candidates into a session (RFC 9725 4.3)",
            tag,
            session,
            requestBody=SDPFRAG_BODY,
            responses={
                "204": {
                    "description": "the candidates were handed to the session's ICE agent",
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                },
                "400": error("the body is not an sdpfrag"),
                "404": error("no such session"),
                "412": error("If-Match names another ETag"),
                "413": error("the body is too large"),
                "415": error("the body is not application/trickle-ice-sdpfrag"),
                "422": error("an ICE restart (not supported; trickle is)"),
            },
        )

    return {
        "/whep/{stream}": {
            "post": _op(
                "whep_play",
                "WHEP: play a stream (SDP offer in, SDP answer out)",
                "playback",
                [stream_param],
                requestBody=SDP_BODY,
                responses={
                    "201": created,
                    "400": error("the offer is unusable"),
                    "404": error("no such stream"),
                    "409": error("a session id clash"),
                    "413": error("the offer is too large"),
                    "415": error("the body is not application/sdp"),
                },
            )
        },
        "/whep/{stream}/{id}": {
            "delete": _op(
                "whep_stop",
                "WHEP: stop a playback session",
                "playback",
                session,
                responses={"200": empty_200, "404": error("no such session")},
            ),
            "patch": patch("whep", "playback"),
        },
        "/whip/{stream}": {
            "post": _op(
                "whip_publish",
                "WHIP (RFC 9725): publish a stream (SDP offer in, answer out)",
                "publishing",
                [stream_param],
                requestBody=SDP_BODY,
                responses={
                    "201": created,
                    "400": error("the offer is unusable"),
                    "409": error("the stream name is already published"),
                    "413": error("the offer is too large"),
                    "415": error("the body is not application/sdp"),
                    "503": error("no free media port"),
                },
            )
        },
        "/whip/{stream}/{id}": {
            "delete": _op(
                "whip_stop",
                "WHIP: stop publishing (the stream is unpublished)",
                "publishing",
                session,
                responses={"200": empty_200, "404": error("no such session")},
            ),
            "patch": patch("whip", "publishing"),
        },
    }
