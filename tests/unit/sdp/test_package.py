"""The wcs.sdp package: its public names, an acyclic import graph, the parser's dispatch rule."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import wcs.sdp
from wcs.sdp import SessionDescription

PACKAGE = Path(wcs.sdp.__file__).parent

# The public names of the former single-module wcs/sdp.py: importers rely on every one.
PUBLIC = {
    "Bandwidth",
    "Codec",
    "ConnectionData",
    "Crypto",
    "Extmap",
    "Fingerprint",
    "Group",
    "H264ProfileLevel",
    "MediaDescription",
    "NegotiatedMedia",
    "Origin",
    "RtcpAddress",
    "SdpError",
    "SessionDescription",
    "SsrcAttribute",
    "SsrcGroup",
    "Timing",
    "answer_direction",
    "answer_offer",
    "build_offer",
    "codecs_match",
    "default_audio_codecs",
    "default_video_codecs",
    "direction_of",
    "h264_answer_level",
    "h264_packetization_mode",
    "h264_profile_level",
    "h264_profiles_compatible",
    "is_hold",
    "negotiate_answer",
    "parse_fmtp",
    "select_codecs",
    "zero_address_hold",
}


def test_public_names_unchanged() -> None:
    assert set(wcs.sdp.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(wcs.sdp, name).__module__.startswith("wcs.sdp.")
    # Module constants of the old file stay reachable too.
    assert wcs.sdp.DIRECTIONS == ("sendrecv", "sendonly", "recvonly", "inactive")
    assert wcs.sdp.STATIC_PAYLOAD_TYPES[0] == ("PCMU", 8000, None)
    assert wcs.sdp.CRLF == "\r\n"


def _runtime_imports(path: Path) -> set[str]:
    """Sibling modules a module imports when it runs (``if TYPE_CHECKING:`` blocks skipped)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                continue
            if isinstance(child, ast.ImportFrom) and child.level == 1:
                if child.module is not None:
                    found.add(child.module.split(".")[0])
                else:
                    found.update(alias.name for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def test_modules_import_without_cycles() -> None:
    modules = {p.stem: p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert {"model", "parser", "session", "media", "h264", "offer_answer"} <= modules.keys()
    graph = {name: _runtime_imports(path) for name, path in modules.items()}
    assert graph["session"] >= {"parser"} and graph["parser"] >= {"media", "model"}
    for deps in graph.values():
        assert deps <= modules.keys()
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as e:  # pragma: no cover - the failure message is the point
        pytest.fail(f"import cycle in wcs.sdp: {e.args[1]}")
    assert order.index("parser") < order.index("session")


BASE = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("session_lines", "media_lines"),
    [
        # A flag given a value, or a valued attribute written as a flag: not the typed form.
        (["a=ice-lite:yes", "a=sendrecv:1", "a=group", "a=setup"], ["a=rtcp-mux:1", "a=mid"]),
        ([], ["a=inactive:x", "a=end-of-candidates:1", "a=ssrc", "a=candidate"]),
        # A number that is not one, and codec lines for a payload type not on the m-line.
        ([], ["a=ptime:abc", "a=maxptime:2.5", "a=rtpmap:97 VP8/90000", "a=fmtp:97 x=1"]),
    ],
)
def test_attribute_not_in_its_typed_form_is_kept_verbatim(
    session_lines: list[str], media_lines: list[str]
) -> None:
    text = BASE + "".join(f"{ln}\r\n" for ln in session_lines)
    text += "m=audio 4000 RTP/AVP 0\r\n" + "".join(f"{ln}\r\n" for ln in media_lines)
    sd = SessionDescription.parse(text)
    m = sd.media[0]
    assert sd.attributes == [_attr(ln) for ln in session_lines]
    assert m.attributes == [_attr(ln) for ln in media_lines]
    assert sd.direction is None and not sd.ice_lite and sd.setup is None and not sd.groups
    assert m.direction is None and not m.rtcp_mux and m.mid is None and m.ptime is None
    assert m.maxptime is None and not m.end_of_candidates and not m.ssrcs and not m.candidates
    assert [c.payload_type for c in m.codecs] == [0]
    assert SessionDescription.parse(str(sd)) == sd


def test_shared_attribute_names_land_on_their_level() -> None:
    text = BASE + "a=ice-ufrag:S\r\na=fingerprint:sha-256 AA\r\na=recvonly\r\n"
    text += "m=audio 4000 RTP/AVP 0\r\na=ice-ufrag:M\r\na=fingerprint:sha-1 BB\r\na=sendonly\r\n"
    text += "a=ptime:30\r\na=maxptime:60\r\n"
    sd = SessionDescription.parse(text)
    m = sd.media[0]
    assert (sd.ice_ufrag, sd.direction, str(sd.fingerprints[0])) == ("S", "recvonly", "sha-256 AA")
    assert (m.ice_ufrag, m.direction, str(m.fingerprints[0])) == ("M", "sendonly", "sha-1 BB")
    assert (m.ptime, m.maxptime) == (30, 60)
    assert sd.attributes == [] and m.attributes == []


def _attr(line: str) -> tuple[str, str | None]:
    name, sep, value = line[2:].partition(":")
    return name, value if sep else None
