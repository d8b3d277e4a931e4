"""DTMF by SIP INFO: one request at a time, paced by tone and gap, errors stop the rest."""

from __future__ import annotations

import pytest

from wcs.media.dtmf import DtmfError, DtmfSettings
from wcs.sip.dtmf_info_sender import InfoDtmfResult, InfoDtmfSender, InfoToSend


def test_one_at_a_time_paced() -> None:
    s = InfoDtmfSender("INFO", DtmfSettings(tone_ms=160, gap_ms=100))
    s.queue("1#")
    assert s.get_timer() == 0.0
    first = s.info_to_send(0.0)
    assert first == InfoToSend("1", "application/dtmf-relay", b"Signal=1\r\nDuration=160\r\n")
    assert s.busy and s.get_timer() is None
    assert s.info_to_send(1.0) is None  # waiting for the answer
    s.on_response(100, "Trying", 0.01)
    assert s.busy
    s.on_response(200, "OK", 0.05)
    assert s.next_event() == InfoDtmfResult("1", 200, "OK")
    assert s.get_timer() == pytest.approx(0.26)  # tone + gap after the first was sent
    assert s.info_to_send(0.2) is None
    second = s.info_to_send(0.26)
    assert second is not None and second.body == b"Signal=#\r\nDuration=160\r\n"
    s.on_response(200, "OK", 0.3)
    assert s.next_event() is not None and s.get_timer() is None


def test_late_answer_holds_the_next_key() -> None:
    s = InfoDtmfSender("INFO_RELAY")
    s.queue("12")
    assert s.info_to_send(0.0) == InfoToSend("1", "application/dtmf", b"1")
    s.on_response(200, "OK", 2.0)
    assert s.info_to_send(2.0) == InfoToSend("2", "application/dtmf", b"2")


@pytest.mark.parametrize("status", [405, 501, 481, 408])
def test_error_drops_the_rest(status: int) -> None:
    s = InfoDtmfSender()
    s.queue("1234")
    s.info_to_send(0.0)
    s.on_response(status, "No", 0.1)
    result = s.next_event()
    assert result == InfoDtmfResult("1", status, "No", dropped="234")
    assert result is not None and not result.ok
    assert s.pending == "" and s.get_timer() is None
    s.queue("9")  # a new request afterwards is tried again
    assert s.info_to_send(1.0) is not None


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        InfoDtmfSender("RFC2833")
    s = InfoDtmfSender(settings=DtmfSettings(max_queue=2))
    with pytest.raises(DtmfError):
        s.queue("x")
    with pytest.raises(DtmfError):
        s.queue("123")
    with pytest.raises(DtmfError):
        s.queue("1", tone_ms=1)
    s.on_response(200, "OK", 0.0)  # no INFO outstanding: ignored
    assert s.next_event() is None
