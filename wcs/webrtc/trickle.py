"""WHIP/WHEP ``PATCH`` on a session: trickle ICE (RFC 9725 4.3, RFC 8840 sdpfrags).

A client that trickles sends ``PATCH /whip/{name}/{id}`` (or ``/whep/...``) with an
``application/trickle-ice-sdpfrag`` body: its ``a=ice-ufrag``/``a=ice-pwd``, the bundle's
first ``m=``/``a=mid`` and ``a=candidate`` / ``a=end-of-candidates`` lines. The candidates
go to the session's ICE agent (aioice adds pairs and checks them while connecting) and the
answer is 204 with the session's ``ETag``.

What is refused, as RFC 9725 4.3 says:

* ``If-Match`` naming another ETag: 412 (the client's view of the ICE session is stale);
* an ICE restart (new ufrag/pwd, or ``If-Match: *``): 422 -- we support trickle but not
  restarts; the session is left as it was;
* another content type: 415; a body that is no sdpfrag: 400.

``a=end-of-candidates`` is acknowledged but not handed to aioice: as the controlled agent we
also learn the client's address from its own checks (peer-reflexive), and aioice would fail
the session once the signalled pairs failed, while such a check may still be on its way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wcs.rest.errors import HttpError
from wcs.rest.message import Request, Response

from .fanout_remote import RemotePeer
from .offer import parse_offer
from .transport import SecurePeer

SDPFRAG_TYPE = "application/trickle-ice-sdpfrag"
MAX_SDPFRAG = 16384


@dataclass(slots=True)
class SdpFrag:
    """One trickle-ice-sdpfrag (RFC 8840 9)."""

    ufrag: str = ""
    pwd: str = ""
    candidates: list[str] = field(default_factory=list)  # without the "a=candidate:" prefix
    end_of_candidates: bool = False


def parse_sdpfrag(text: str) -> SdpFrag:
    """Parse a body; ValueError naming the bad line when it is not an sdpfrag."""
    frag = SdpFrag()
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise ValueError(f"not an SDP line: {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            continue  # one per bundle; ours is bundled, the first m-line is the transport
        if kind != "a":
            raise ValueError(f"unexpected {kind}= line in an sdpfrag")
        name, _, rest = value.partition(":")
        if name == "ice-ufrag":
            frag.ufrag = rest
        elif name == "ice-pwd":
            frag.pwd = rest
        elif name == "candidate":
            if len(rest.split()) < 8:
                raise ValueError(f"bad candidate: {rest[:60]!r}")
            frag.candidates.append(rest)
        elif name == "end-of-candidates":
            frag.end_of_candidates = True
        # a=mid, a=ice-options and the like carry nothing we act on.
    return frag


def etag_of(answer: str) -> str:
    """The ETag of a session: its ICE ufrag, quoted (it changes only with an ICE restart)."""
    for line in answer.splitlines():
        if line.startswith("a=ice-ufrag:"):
            return f'"{line[len("a=ice-ufrag:") :].strip()}"'
    return '""'


AddCandidates = Callable[[list[str]], Awaitable[int]]


async def answer_patch(
    req: Request, *, etag: str, remote_ufrag: str, remote_pwd: str, add: AddCandidates
) -> Response:
    """The response to a trickle PATCH; ``add`` hands the candidate lines to ICE."""
    ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype != SDPFRAG_TYPE:
        raise HttpError(415, f"the body must be {SDPFRAG_TYPE}")
    if_match = (req.headers.get("if-match") or "").strip()
    restart = if_match == "*"
    if if_match and not restart and etag not in (t.strip() for t in if_match.split(",")):
        raise HttpError(412, "If-Match does not name this session's ETag")
    if len(req.body) > MAX_SDPFRAG:
        raise HttpError(413, "sdpfrag too large")
    try:
        frag = parse_sdpfrag(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, f"bad sdpfrag: {exc}") from None
    if (frag.ufrag and frag.ufrag != remote_ufrag) or (frag.pwd and frag.pwd != remote_pwd):
        restart = True
    if restart:
        raise HttpError(422, "ICE restart is not supported (trickle is)")
    await add(frag.candidates)
    return Response(204, b"", {"etag": etag, "access-control-expose-headers": "ETag"})


async def _ignore(candidates: list[str]) -> int:
    return 0


async def patch_session(req: Request, peer: SecurePeer | RemotePeer) -> Response:
    """PATCH on a WHIP/WHEP session whose peer is ``peer``.

    A viewer served in a media worker gets 204 too, its candidates unused: its agent (in
    the worker) learns the client's address from the client's checks, as without trickle.
    """
    if isinstance(peer, SecurePeer):
        ufrag, pwd = peer.offer.ice_ufrag, peer.offer.ice_pwd
        add: AddCandidates = peer.ice.add_remote_candidates
    else:
        offer = parse_offer(peer.offer)  # parsed once already: it cannot fail here
        ufrag, pwd = offer.ice_ufrag, offer.ice_pwd
        add = _ignore
    return await answer_patch(
        req, etag=etag_of(peer.answer), remote_ufrag=ufrag, remote_pwd=pwd, add=add
    )
