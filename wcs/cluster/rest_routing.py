"""One REST API on every node: ``find*`` merged over the cluster, actions sent to the owner.

Installed over the local routes (``Router.wrap``); the local handlers stay reachable for the
``rest`` RPC, which runs a request here on behalf of another node. Three shapes:

* merged (``/call/find_all`` ...): the local answer plus every live node's, concatenated;
  calls and streams of a dead node appear FAILED for one TTL (the registry's failed views);
* owned (``/call/terminate`` ...): the owner is looked up by ``callId`` or stream name and the
  request runs there; without such a key, here first, then on each other node until one
  answers something else than 404;
* ``/call/startup``: the callId and ``toStream`` are claimed cluster-wide first (409 when a
  live node holds either), the claims dropped again if the call does not start. An ``edge``
  node places the call on the least-loaded origin node (an origin or ``both`` node keeps
  it: the local one, by the role setting).

An owner that does not answer within ``cluster_rpc_timeout`` gives 503 naming the node. With
Redis unreachable every request is answered locally, marked by the ``x-wcs-cluster-warning``
header (a JSON array has no room for a warning field).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from wcs.cluster.node import ClusterNode
from wcs.cluster.registry import CALL, STREAM, least_loaded
from wcs.cluster.rpc import RemoteError, Unreachable
from wcs.rest.errors import HttpError
from wcs.rest.message import Request, Response, error, json_response
from wcs.rest.router import Handler, Router

log = logging.getLogger("wcs.cluster")

R = "/rest-api/"
MERGED = {
    f"{R}call/find": CALL,
    f"{R}call/find_all": CALL,
    f"{R}stream/find": STREAM,
    f"{R}stream/find_all": STREAM,
    f"{R}push/find": None,
    f"{R}push/find_all": None,
    f"{R}recorder/find_all": None,
    f"{R}sip/find": None,
    f"{R}sip/find_all": None,
}
_CALL_ACTIONS = ("terminate", "hold", "unhold", "transfer", "send_dtmf", "answer", "reject")
BY_CALL = {f"{R}call/{a}" for a in (*_CALL_ACTIONS, "inject_sound", "inject_sound/terminate")}
BY_STREAM = {  # path -> the body field naming the stream (when given)
    f"{R}stream/terminate": "name",
    f"{R}push/startup": "streamName",
    f"{R}recorder/startup": "streamName",
    f"{R}stream/startRecording": "streamName",
    f"{R}recorder/terminate": "streamName",
    f"{R}stream/stopRecording": "streamName",
    f"{R}push/terminate": None,
    f"{R}push/mute": None,
    f"{R}push/unmute": None,
    f"{R}push/sound_on": None,
    f"{R}push/sound_off": None,
}
STARTUP = f"{R}call/startup"
WARNING = "x-wcs-cluster-warning"


class ClusterRest:
    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self._local: dict[str, Handler] = {}
        node.handle("rest", self._serve_rpc)

    def install(self, router: Router) -> None:
        known = router.methods_by_path()
        for path in (*MERGED, *BY_CALL, *BY_STREAM, STARTUP):
            if path not in known or path in self._local:
                continue
            shape = (
                self._startup
                if path == STARTUP
                else self._merged
                if path in MERGED
                else self._owned
            )
            self._local[path] = router.wrap(path, shape)

    # ------------------------------------------------------------------ running here
    async def _run_local(self, req: Request) -> Response:
        handler = self._local.get(req.path)
        if handler is None:
            return error(404, "not found")
        try:
            resp = await handler(req)
        except HttpError as exc:
            resp = error(exc.status, exc.message, exc.field)
        return stamp(resp, self.node.node_id)

    async def _serve_rpc(self, args: dict[str, Any]) -> dict[str, Any]:
        req = Request(
            str(args["method"]),
            str(args["path"]),
            query=dict(args.get("query") or {}),
            body=str(args.get("body") or "").encode(),
        )
        resp = await self._run_local(req)
        return {
            "status": resp.status,
            "body": resp.body.decode(errors="replace"),
            "type": resp.headers.get("content-type") or "",
        }

    async def _forward(self, node: str, req: Request) -> Response:
        args = {
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "body": req.body.decode(errors="replace"),
        }
        out = await self.node.rpc.request(node, "rest", args)
        headers = {"content-type": out["type"]} if out.get("type") else None
        return Response(int(out["status"]), str(out.get("body", "")).encode(), headers)

    # ------------------------------------------------------------------ the three shapes
    def _merged(self) -> Handler:
        async def merged(req: Request) -> Response:
            local = await self._run_local(req)
            if local.status not in (200, 404):
                return local  # a bad body is refused here, not asked of every node
            if self.node.degraded:
                return _warn(local, f"redis unreachable: local data only ({self.node.error})")
            others = [n for n in self.node.live if n != self.node.node_id]
            answers = await asyncio.gather(
                *(self._forward(n, req) for n in others), return_exceptions=True
            )
            items = _items(local)
            warnings = []
            for node, answer in zip(others, answers, strict=True):
                if isinstance(answer, Response):
                    items.extend(_items(answer))
                else:
                    warnings.append(f"{node}: {answer}")
            kind = MERGED[req.path]
            if kind is not None:
                items.extend(await self._failed(kind, req))
            resp = json_response(items) if items else local
            return _warn(resp, "; ".join(warnings)) if warnings else resp

        return merged

    async def _failed(self, kind: str, req: Request) -> list[dict[str, Any]]:
        """The FAILED views of a dead node's calls/streams matching the request's key."""
        try:
            views = await self.node.store.failed_views(kind)
        except Exception:
            return []
        body = req.json()
        want = body.get("callId") if kind == CALL else body.get("name")
        return [v for v in views if want is None or v.get("callId", v.get("name")) == want]

    def _owned(self) -> Handler:
        async def owned(req: Request) -> Response:
            body = req.json()
            kind, key = _owner_key(req.path, body)
            if key is not None and not self.node.degraded:
                try:
                    owner = await self.node.store.owner(kind, key)
                except Exception:
                    owner = None
                if owner is not None and owner != self.node.node_id:
                    return await self._forward_or_503(owner, req)
                return await self._run_local(req)
            local = await self._run_local(req)
            if local.status != 404 or self.node.degraded:
                return local
            for node in [n for n in self.node.live if n != self.node.node_id]:
                try:
                    answer = await self._forward(node, req)
                except (Unreachable, RemoteError):
                    continue
                if answer.status != 404:
                    return answer
            return local

        return owned

    async def _forward_or_503(self, node: str, req: Request) -> Response:
        try:
            return await self._forward(node, req)
        except (Unreachable, RemoteError) as exc:
            log.warning("cluster: %s for %s not routed: %s", req.path, node, exc)
            return error(503, f"owner node unavailable: {exc}")

    def _startup(self) -> Handler:
        async def startup(req: Request) -> Response:
            body = req.json()
            target = self._placement()
            if target is None:
                return error(503, "no origin node in the cluster to place the call on")
            claims = [(CALL, body.get("callId")), (STREAM, body.get("toStream"))]
            taken: list[tuple[str, str]] = []
            warning = None
            if self.node.degraded:  # do not wait on a Redis known to be away
                claims = []
                warning = f"redis unreachable: not checked cluster-wide ({self.node.error})"
            for kind, key in claims:
                if not isinstance(key, str) or not key:
                    continue
                try:
                    owner = await self.node.claim(kind, key, target)
                except Exception as exc:
                    warning = f"redis unreachable: not checked cluster-wide ({exc})"
                    break
                if owner is not None:
                    await self._release(taken, target)
                    what = "callId" if kind == CALL else "toStream"
                    return error(409, f"{what} {key!r} is in use on node {owner}", what)
                taken.append((kind, key))
            if target == self.node.node_id:
                resp = await self._run_local(req)
            else:
                resp = await self._forward_or_503(target, req)
            if resp.status != 200:
                await self._release(taken, target)
            return _warn(resp, warning) if warning else resp

        return startup

    def _placement(self) -> str | None:
        """Where a new call goes: here, unless this is an edge (then the least-loaded
        origin; None when there is none). Without Redis: here."""
        me = self.node.node_id
        if self.node.info.role != "edge" or self.node.degraded:
            return me
        best = least_loaded(n for n in self.node.live.values() if n.node_id != me)
        return best.node_id if best is not None else None

    async def _release(self, taken: list[tuple[str, str]], owner: str) -> None:
        for kind, key in taken:
            await self.node.release(kind, key, owner)


def _owner_key(path: str, body: dict[str, Any]) -> tuple[str, str | None]:
    if path in BY_CALL:
        value = body.get("callId")
        return CALL, value if isinstance(value, str) and value else None
    field = BY_STREAM.get(path)
    value = body.get(field) if field else None
    return STREAM, value if isinstance(value, str) and value else None


def _items(resp: Response) -> list[Any]:
    if resp.status != 200 or not resp.body:
        return []
    try:
        data = json.loads(resp.body)
    except ValueError:
        return []
    return data if isinstance(data, list) else [data]


def _warn(resp: Response, text: str) -> Response:
    resp.headers.set(WARNING, text[:500])
    return resp


def stamp(resp: Response, node_id: str) -> Response:
    """``nodeId`` of every object in a JSON answer made here (WCS: the node that holds it);
    objects WCS has no nodeId in (registrations, pushes, recordings) get one too."""
    if not 200 <= resp.status < 300 or "json" not in (resp.headers.get("content-type") or ""):
        return resp
    try:
        data = json.loads(resp.body)
    except ValueError:
        return resp
    objects = data if isinstance(data, list) else [data]
    changed = False
    for obj in objects:
        if isinstance(obj, dict) and obj.get("nodeId") is None:
            obj["nodeId"] = node_id
            changed = True
    if not changed:
        return resp
    out = json_response(data, resp.status)
    for name, value in resp.headers:
        if name.lower() != "content-type":
            out.headers.set(name, value)
    return out
