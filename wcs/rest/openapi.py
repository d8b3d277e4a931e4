"""The OpenAPI 3.1 description of the HTTP API, served at ``/rest-api/openapi.json``.

Request bodies come from their declarations (:mod:`wcs.rest.schema_bodies`), the same ones
the handlers validate with, and each operation lists in ``x-refusals`` the only reasons a
schema-valid body may still get a 400; responses are described here.
:func:`build_document` keeps only the paths the server has mounted (a server without the
recorder does not advertise it), and the test
suite sends generated requests to every path of it and checks each answer against it.

WCS pages send booleans and numbers as strings, so every boolean field accepts ``"true"``
/ ``"false"`` (and 1/0, yes/no, on/off) and every number accepts its decimal string. Every
JSON endpoint takes GET or POST alike (WCS does), a body being optional for GET.

Operations WCS does not have (or has only over its WebSocket) carry ``x-extension: true``
and say "Our extension" in their description.
"""

from __future__ import annotations

import json

from wcs import __version__
from wcs.rest.message import Request, Response
from wcs.rest.openapi_schemas import SCHEMAS, Schema, ref
from wcs.rest.openapi_webrtc import webrtc_paths
from wcs.rest.router import Router
from wcs.rest.schema_bodies import BODIES

OPENAPI_PATH = "/rest-api/openapi.json"


def _json_body(schema: str, required: bool = False) -> Schema:
    return {
        "required": required,
        "content": {"application/json": {"schema": ref(schema)}},
    }


def _error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def _list_of(schema: str, description: str) -> Schema:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"type": "array", "items": ref(schema)}}},
    }


EMPTY_200: Schema = {"description": "done (empty body, WCS style)"}
BAD_400 = _error("a field is missing or unusable; `field` names it")
NONE_404 = _error("nothing matched")
DUP_409 = _error("a duplicate (same callId, same push target)")
BIG_413 = _error("the body is larger than rest_max_body")


def _operations_get(
    op_id: str, summary: str, ok: str, mime: str, schema: Schema, public: bool = False
) -> dict[str, Schema]:
    """A GET of the operations tag with one 200 body; ``public``: no auth."""
    op: Schema = {"operationId": op_id, "summary": summary, "tags": ["operations"]}
    if public:
        op["security"] = []
    op["responses"] = {"200": {"description": ok, "content": {mime: {"schema": schema}}}}
    return {"get": op}


def _wcs_op(
    summary: str,
    tag: str,
    body: str | None,
    responses: dict[str, Schema],
    *,
    body_required: bool = False,
    extension: bool = False,
) -> dict[str, Schema]:
    """One WCS-style endpoint: the same operation on GET and POST."""
    op: Schema = {"summary": summary, "tags": [tag], "responses": {**responses, "413": BIG_413}}
    if extension:
        op["x-extension"] = True
        op["description"] = "Our extension: WCS has no such REST endpoint."
    if body is not None:
        op["requestBody"] = _json_body(body, body_required)
        refusals = _BODIES[body].all_refusals()
        if refusals:
            # The only 400s a schema-valid body may get (the property test holds us to it).
            op["x-refusals"] = refusals
            why = "; ".join(f"{name}: {reason}" for name, reason in refusals.items())
            op["responses"]["400"] = _error(
                f"a field is missing or unusable; `field` names it. A body valid against "
                f"the schema is refused only for: {why}"
            )
    get = {**op, "operationId": f"get_{_op_id(summary)}"}
    post = {**op, "operationId": f"post_{_op_id(summary)}"}
    return {"get": get, "post": post}


_BODIES = {b.name: b for b in BODIES}


def _op_id(summary: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in summary.lower()).strip("_")[:60]


def _action(
    summary: str,
    tag: str,
    body: str,
    more: dict[str, Schema] | None = None,
    extension: bool = False,
) -> dict[str, Schema]:
    """An action on one named thing: a required body, an empty 200, 404 when none matched."""
    responses = {"200": EMPTY_200, "400": BAD_400, "404": NONE_404, **(more or {})}
    return _wcs_op(summary, tag, body, responses, body_required=True, extension=extension)


def _find(summary: str, tag: str, body: str | None, item: str, found: str) -> dict[str, Schema]:
    """A search answering a list of ``item`` (``found`` describes it), 404 when empty."""
    responses = {"200": _list_of(item, found), "400": BAD_400, "404": NONE_404}
    return _wcs_op(summary, tag, body, responses)


def _one(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _paths() -> dict[str, dict[str, Schema]]:
    p: dict[str, dict[str, Schema]] = {
        "/rest-api/call/startup": _wcs_op(
            "Place a SIP call (registering first when asked) and capture it into a stream",
            "calls", "CallStartup", {"200": EMPTY_200, "400": BAD_400, "409": DUP_409},
            body_required=True),
        "/rest-api/call/find": _find(
            "Calls matching every given field", "calls", "CallFilter", "Call",
            "the matching calls"),
        "/rest-api/call/find_all": _find("Every call", "calls", None, "Call", "every call"),
        "/rest-api/call/terminate": _action(
            "Hang up a call (BYE, or CANCEL while it rings)", "calls", "CallId"),
        "/rest-api/call/answer": _action(
            "Our extension: answer an incoming call that rings (answer = ring)", "calls",
            "CallId"),
        "/rest-api/call/reject": _action(
            "Our extension: refuse an incoming call that rings with a status (486 by "
            "default)", "calls", "CallReject"),
        "/rest-api/sip/register": _wcs_op(
            "Our extension: register an account of ours; calls to it become streams",
            "sip", "SipRegister",
            {"200": _one("the registration", ref("Registration")), "400": BAD_400,
             "409": DUP_409}, body_required=True),
        "/rest-api/sip/unregister": _action(
            "Our extension: remove a registration (REGISTER with Expires 0)", "sip",
            "RegistrationId"),
        "/rest-api/sip/find": _find(
            "Our extension: registrations matching every given field", "sip",
            "RegistrationFilter", "Registration", "the matching registrations"),
        "/rest-api/sip/find_all": _find(
            "Our extension: every registration", "sip", None, "Registration",
            "every registration"),
        "/rest-api/stream/find": _find(
            "Streams (and viewers) matching every given field", "streams", "StreamFilter",
            "Stream", "the matching streams"),
        "/rest-api/stream/find_all": _find(
            "Every stream and viewer", "streams", None, "Stream", "every stream"),
        "/rest-api/stream/terminate": _wcs_op(
            "Stop the matching streams (all of them for an empty body)", "streams",
            "StreamFilter",
            {"200": _one("accepted", {"type": "string"}), "400": BAD_400, "404": NONE_404}),
        "/rest-api/push/startup": _wcs_op(
            "Republish a stream to an RTMP server", "push", "PushStartup",
            {"200": _one("the transponder", ref("Transponder")), "400": BAD_400,
             "404": NONE_404, "409": DUP_409}, body_required=True),
        "/rest-api/push/find": _find(
            "Transponders matching every given field", "push", "PushFilter", "Transponder",
            "the matching transponders"),
        "/rest-api/push/find_all": _find(
            "Every transponder", "push", None, "Transponder", "every transponder"),
        "/rest-api/recorder/startup": _action(
            "Record a stream to a file", "recorder", "RecorderStartup"),
        "/rest-api/stream/startRecording": _action(
            "Record a stream to a file (alias of recorder/startup)", "recorder",
            "RecorderStartup"),
        "/rest-api/recorder/terminate": _action(
            "Stop recording a stream", "recorder", "RecorderStop"),
        "/rest-api/stream/stopRecording": _action(
            "Stop recording a stream (alias of recorder/terminate)", "recorder",
            "RecorderStop"),
        "/rest-api/recorder/find_all": _find(
            "Every recording in progress", "recorder", None, "Recording", "the recordings"),
    }  # fmt: skip
    for action, summary in (
        ("terminate", "Stop a transponder"),
        ("mute", "Mute a transponder"),
        ("unmute", "Unmute a transponder"),
        ("sound_off", "Send the call's audio again after sound_on"),
    ):
        p[f"/rest-api/push/{action}"] = _action(summary, "push", "MediaSessionId")
    busy = _error("the call is not established (ringing, ending) or busy with another offer")
    for action, summary, body, extension in (
        (
            "send_dtmf",
            "Send DTMF keys into an established call (RFC 4733 events or SIP INFO)",
            "CallSendDtmf",
            False,
        ),
        (
            "inject_sound",
            "Play a sound file into the call in place of silence",
            "CallInjectSound",
            False,
        ),
        ("inject_sound/terminate", "Stop the sound playing into the call", "CallId", True),
        (
            "inject_stream/startup",
            "Send a stream's audio into the call in place of silence (WCS 5.2 name)",
            "CallInjectStream",
            False,
        ),
        (
            "inject_stream",
            "Send a stream's audio into the call (WCS 5.0 name, sip-as-rtmp-4 demo)",
            "CallInjectStream",
            False,
        ),
        ("inject_stream/terminate", "Stop the stream going into the call", "CallId", False),
        (
            "hold",
            "Hold the call (re-INVITE a=sendonly); the stream keeps its viewers",
            "CallId",
            True,
        ),
        ("unhold", "Resume a held call (re-INVITE a=sendrecv)", "CallId", True),
        (
            "transfer",
            "Blind transfer (REFER); the call ends FINISH when the transfer succeeds",
            "CallTransfer",
            True,
        ),
    ):
        p[f"/rest-api/call/{action}"] = _action(
            summary, "calls", body, {"409": busy}, extension=extension
        )
    p["/rest-api/push/sound_on"] = _action(
        "Send a sound file (once or looped) in place of the call's audio", "push", "SoundOn"
    )
    p["/health"] = _operations_get(
        "health", "Liveness: the server answers (no auth)", "up", "application/json",
        ref("Health"), public=True,
    )  # fmt: skip
    p["/metrics"] = _operations_get(
        "metrics", "Prometheus metrics, text format 0.0.4", "metrics", "text/plain",
        {"type": "string"},
    )  # fmt: skip
    p[OPENAPI_PATH] = _operations_get(
        "openapi", "This document", "OpenAPI 3.1", "application/json", {"type": "object"},
        public=True,
    )  # fmt: skip
    p.update(webrtc_paths(_error, EMPTY_200))
    return p


def full_document() -> Schema:
    """Every path this project serves, mounted or not."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wcs REST API",
            "version": __version__,
            "description": (
                "SIP calls as live streams; Flashphoner WCS compatible REST API. "
                "Booleans and numbers in bodies also accept their string forms. "
                "Strings are Unicode text: lone surrogates and control characters are "
                "refused with 400. Errors are JSON {error, field}. See docs/rest.md."
            ),
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": {**SCHEMAS, **{b.name: b.json_schema() for b in BODIES}},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "rest_auth = token:SECRET",
                },
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "rest_auth = basic:USER:PASSWORD",
                },
            },
        },
        "security": [{}, {"bearer": []}, {"basic": []}],
        "paths": _paths(),
    }


def build_document(router: Router) -> Schema:
    """The document restricted to the paths and methods ``router`` serves."""
    doc = full_document()
    mounted = router.methods_by_path()
    paths: dict[str, dict[str, Schema]] = {}
    for path, item in doc["paths"].items():
        methods = {m.lower() for m in mounted.get(path, ())}
        kept = {m: op for m, op in item.items() if m in methods}
        if kept:
            paths[path] = kept
    doc["paths"] = paths
    return doc


def add_openapi_route(router: Router) -> None:
    """Serve the document; built on first request, when every route is mounted."""
    cache: list[bytes] = []

    async def openapi(req: Request) -> Response:
        if not cache:
            cache.append(json.dumps(build_document(router), indent=1).encode())
        return Response(200, cache[0], {"content-type": "application/json; charset=utf-8"})

    router.add("GET", OPENAPI_PATH, openapi, auth=False)
