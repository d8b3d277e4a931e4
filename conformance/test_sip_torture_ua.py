"""The torture messages arriving at our UserAgent over UDP: malformed requests get a 400
when an answer can be built, otherwise nothing; valid ones never get a 400; nothing crashes."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings

from conformance.fuzzing import mutated
from conformance.torture import TortureCase, load_cases
from wcs.sip.message import SipParseError, SipResponse, parse_message
from wcs.sip.ua import UserAgent
from wcs.sip.via import Via

CASES = load_cases()
SOURCE = ("192.0.2.7", 5062)  # the sent-by of the torture messages' Via

# The UA's reaction differs from the manifest (found by this suite); strict expected
# failures, so fixing one makes the run fail until the entry is removed.
KNOWN_UA_GAPS: dict[str, str] = {}

REQUESTS = [c for c in CASES if c.ua is not None]


class WrongReaction(AssertionError):
    pass


def _feed(case: TortureCase) -> list[tuple[bytes, tuple[str, int, str]]]:
    ua = UserAgent(local_port=5060, public_ip="192.0.2.1")
    ua.receive(case.data, SOURCE, "udp", 0.0)
    out = ua.datagrams_to_send(0.0)
    assert ua.next_event() is None, "a stray request must not surface as an event"
    return out


def _param(case: TortureCase) -> object:
    if case.name in KNOWN_UA_GAPS:
        return pytest.param(
            case,
            marks=pytest.mark.xfail(
                raises=WrongReaction, strict=True, reason=KNOWN_UA_GAPS[case.name]
            ),
            id=case.name.removesuffix(".sip"),
        )
    return pytest.param(case, id=case.name.removesuffix(".sip"))


@pytest.mark.parametrize("case", [_param(c) for c in REQUESTS])
def test_ua_reaction(case: TortureCase, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="wcs"):
        out = _feed(case)
    _no_tracebacks(caplog)  # "nothing crashes": no handler died inside the UA
    responses = []
    for data, (host, port, transport) in out:
        msg = parse_message(data)  # what we send must be parseable by ourselves
        assert isinstance(msg, SipResponse), "the UA answered with a request"
        responses.append((msg, (host, port), transport))
    statuses = [m.status for m, _, _ in responses]
    if case.ua == "silent":
        if responses:
            raise WrongReaction(f"expected no answer, got {statuses}")
        return
    if case.ua == "not-400":
        if len(responses) != 1 or statuses[0] == 400:
            raise WrongReaction(f"expected one answer other than 400, got {statuses}")
        _checked_answer(case, *responses[0])
        return
    assert case.ua == "400"
    if len(responses) != 1 or statuses[0] not in (400, 505):
        raise WrongReaction(f"expected one 400, got {statuses}")
    _checked_answer(case, *responses[0])


def _checked_answer(
    case: TortureCase, resp: SipResponse, addr: tuple[str, int], transport: str
) -> None:
    try:
        _check_answer(case, resp, addr, transport)
    except AssertionError as exc:
        raise WrongReaction(f"bad answer {resp.start_line()!r}: {exc}") from exc


def _check_answer(
    case: TortureCase, resp: SipResponse, addr: tuple[str, int], transport: str
) -> None:
    """§8.2.6.2 / §18.2.2: the answer copies the identifiers and goes back to the Via."""
    assert (addr, transport) == (SOURCE, "udp")
    request_text = case.data.decode("latin-1")
    assert resp.call_id and resp.call_id in request_text
    assert resp.headers.get("From") and resp.headers.get("To")
    assert resp.headers.get("CSeq") is not None
    via = Via.parse(resp.headers.get_all("Via")[0])
    assert via.branch and via.branch in request_text
    # §8.2.6.2: a final response to a request without To tag adds one
    assert "tag=" in (resp.headers.get("To") or ""), "no To tag"


def test_responses_are_never_answered() -> None:
    for case in CASES:
        if case.ua is None:
            assert _feed(case) == [], case.name


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    crashed = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not crashed, f"the UA logged an exception: {crashed[:3]}"


def _all_parse(out: list[tuple[bytes, tuple[str, int, str]]]) -> None:
    for data, _dest in out:
        try:
            parse_message(data)
        except SipParseError as exc:
            raise AssertionError(f"the UA sent something unparseable: {data[:80]!r}") from exc


def test_truncated_messages_never_crash_the_ua(caplog: pytest.LogCaptureFixture) -> None:
    """The UA's error path (salvaging headers for a 400) on every torture message cut
    at ~40 places: no exception inside the UA, every answer parses."""
    ua = UserAgent(local_port=5060, public_ip="192.0.2.1")
    with caplog.at_level(logging.DEBUG, logger="wcs"):
        for case in CASES:
            step = max(7, len(case.data) // 40)
            for cut in range(0, len(case.data), step):
                ua.receive(case.data[:cut], SOURCE, "udp", 0.0)
    _no_tracebacks(caplog)
    _all_parse(ua.datagrams_to_send(0.0))


@given(mutated())
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_mutated_messages_never_crash_the_ua(data: bytes) -> None:
    ua = UserAgent(local_port=5060, public_ip="192.0.2.1")
    handler = _Collect()
    logger = logging.getLogger("wcs")
    logger.addHandler(handler)
    try:
        ua.receive(data, SOURCE, "udp", 0.0)
    finally:
        logger.removeHandler(handler)
    assert not handler.crashes, handler.crashes[:1]
    out = ua.datagrams_to_send(0.0)
    _all_parse(out)
    assert len(out) <= 1, "one request, at most one answer"


class _Collect(logging.Handler):
    """caplog is function-scoped; hypothesis runs many examples per call."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.crashes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.crashes.append(self.format(record))
