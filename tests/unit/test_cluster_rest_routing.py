"""REST over the cluster without Redis: merged finds, routing to the owner, 503, 409 claims."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from wcs.cluster.node import ClusterNode
from wcs.cluster.registry import Load, NodeInfo
from wcs.cluster.rest_routing import WARNING, ClusterRest, stamp
from wcs.cluster.rpc import Unreachable
from wcs.rest.message import Request, Response, empty, error, json_response
from wcs.rest.router import Router


class FakeStore:
    def __init__(self) -> None:
        self.owners: dict[tuple[str, str], str] = {}
        self.failed: list[dict[str, Any]] = []

    async def owner(self, kind: str, key: str) -> str | None:
        return self.owners.get((kind, key))

    async def failed_views(self, kind: str) -> list[dict[str, Any]]:
        return self.failed


class FakeRpc:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers  # node -> Response | Exception
        self.asked: list[tuple[str, str]] = []

    async def request(self, node: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        self.asked.append((node, args["path"]))
        answer = self.answers[node]
        if isinstance(answer, Exception):
            raise answer
        return {"status": answer.status, "body": answer.body.decode(), "type": "application/json"}


class FakeNode:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.node_id = "A"
        self.degraded = False
        self.error = ""
        self.live = {"A": None, **{n: None for n in answers}}
        self.rpc = FakeRpc(answers)
        self.store = FakeStore()
        self.claims: dict[tuple[str, str], str] = {}
        self.released: list[tuple[str, str]] = []
        self.info = NodeInfo("A", "both", "127.0.0.1", 1, 1, 0.0)

    def handle(self, op: str, handler: Any) -> None:
        self.rest_handler = handler

    async def claim(self, kind: str, key: str, owner: str | None = None) -> str | None:
        return self.claims.get((kind, key))

    async def release(self, kind: str, key: str, owner: str | None = None) -> None:
        self.released.append((kind, key))


def build(answers: dict[str, Any], local: dict[str, Response]) -> tuple[FakeNode, Router]:
    router = Router()
    for path, resp in local.items():

        async def handler(req: Request, resp: Response = resp) -> Response:
            return resp

        router.add(("GET", "POST"), path, handler)
    fake = FakeNode(answers)
    ClusterRest(cast(ClusterNode, fake)).install(router)
    return fake, router


def call(router: Router, path: str, body: dict[str, Any] | None = None) -> Response:
    match = router.match("POST", path)
    assert match is not None and match.route is not None
    req = Request("POST", path, body=json.dumps(body or {}).encode())
    return asyncio.run(match.route.handler(req))


CALLS = "/rest-api/call/find_all"


def test_find_all_merges_every_node_and_stamps_node_ids() -> None:
    remote = json_response([{"callId": "b1", "nodeId": "B"}])
    fake, router = build(
        {"B": remote, "C": error(404, "no calls")},
        {CALLS: json_response([{"callId": "a1", "nodeId": None}])},
    )
    fake.store.failed = [{"callId": "x1", "status": "FAILED", "nodeId": "D"}]
    resp = call(router, CALLS)
    items = json.loads(resp.body)
    assert [(i["callId"], i["nodeId"]) for i in items] == [("a1", "A"), ("b1", "B"), ("x1", "D")]
    assert WARNING not in resp.headers


def test_find_all_with_an_unreachable_node_warns() -> None:
    _, router = build(
        {"B": Unreachable("B", "no answer in 3 s")}, {CALLS: json_response([{"nodeId": None}])}
    )
    resp = call(router, CALLS)
    assert resp.status == 200 and "B" in (resp.headers.get(WARNING) or "")


def test_find_all_nothing_anywhere_is_the_local_404() -> None:
    _, router = build({"B": error(404, "no calls")}, {CALLS: error(404, "no calls")})
    assert call(router, CALLS).status == 404


def test_degraded_answers_locally_with_a_warning() -> None:
    fake, router = build({"B": json_response([{}])}, {CALLS: json_response([{"nodeId": None}])})
    fake.degraded, fake.error = True, "Connection refused"
    resp = call(router, CALLS)
    assert len(json.loads(resp.body)) == 1 and "redis" in (resp.headers.get(WARNING) or "")
    assert fake.rpc.asked == []


TERMINATE = "/rest-api/call/terminate"


def test_actions_go_to_the_owner_or_503() -> None:
    fake, router = build({"B": empty()}, {TERMINATE: error(404, "call not found")})
    fake.store.owners[("call", "c1")] = "B"
    assert call(router, TERMINATE, {"callId": "c1"}).status == 200
    assert fake.rpc.asked == [("B", TERMINATE)]
    fake.rpc.answers["B"] = Unreachable("B", "not listening")
    resp = call(router, TERMINATE, {"callId": "c1"})
    assert resp.status == 503 and "B" in json.loads(resp.body)["error"]


def test_keyless_action_tries_here_then_each_node() -> None:
    path = "/rest-api/push/terminate"
    fake, router = build({"B": error(404, "x"), "C": empty()}, {path: error(404, "not found")})
    assert call(router, path, {"mediaSessionId": "p1"}).status == 200
    assert [n for n, _ in fake.rpc.asked] == ["B", "C"]


STARTUP = "/rest-api/call/startup"


def test_startup_claims_names_and_refuses_taken_ones() -> None:
    fake, router = build({}, {STARTUP: empty()})
    fake.claims[("stream", "s1")] = "B"
    resp = call(router, STARTUP, {"callId": "c1", "toStream": "s1"})
    assert resp.status == 409 and json.loads(resp.body)["field"] == "toStream"
    assert fake.released == [("call", "c1")]  # the callId claimed first is given back
    assert call(router, STARTUP, {"callId": "c2", "toStream": "s2"}).status == 200


def test_stamp_leaves_other_answers_alone() -> None:
    assert stamp(empty(), "A").body == b""
    kept = json_response([{"nodeId": "B"}])
    assert stamp(kept, "A") is kept
    resp = stamp(json_response({"nodeId": None, "x": 1}), "A")
    assert json.loads(resp.body) == {"nodeId": "A", "x": 1}
    added = stamp(json_response([{"fileName": "r.mp4"}]), "A")
    assert json.loads(added.body) == [{"fileName": "r.mp4", "nodeId": "A"}]
    refused = error(404, "not found")
    assert stamp(refused, "A") is refused


def test_an_edge_places_calls_on_the_least_loaded_origin() -> None:
    fake, router = build({"B": empty(), "C": empty()}, {STARTUP: error(500, "not here")})
    fake.info.role = "edge"
    fake.live = {
        "A": fake.info,
        "B": NodeInfo("B", "origin", "h", 1, 1, 0.0, Load(cpu=50)),
        "C": NodeInfo("C", "both", "h", 1, 1, 0.0, Load(cpu=10)),
    }
    assert call(router, STARTUP, {"callId": "c1"}).status == 200
    assert fake.rpc.asked == [("C", STARTUP)]
    fake.live = {"A": fake.info}
    assert call(router, STARTUP, {"callId": "c2"}).status == 503
