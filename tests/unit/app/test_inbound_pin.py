"""check_pin over a call's real DTMF receive path (ReceivedKeys), keys fed by hand."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from wcs.app.call_dtmf import ReceivedKeys
from wcs.app.inbound_pin import WRONG_PIN, bye_reason, check_pin, no_pin
from wcs.media.dtmf import DtmfKey


async def run(keys: str, pin: str = "1234", timeout: float = 5.0, early: str = "") -> Any:
    call: Any = SimpleNamespace(dtmf=ReceivedKeys())
    for digit in early:  # keyed before the call was answered: not counted
        call.dtmf.add(DtmfKey(digit, 100, "RFC2833"))
    task = asyncio.create_task(check_pin(call, pin, timeout))
    await asyncio.sleep(0)  # the check starts waiting
    for digit in keys:
        call.dtmf.add(DtmfKey(digit, 100, "INFO"))
    return await task


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("1234#", None),
        ("1234#99", None),  # keys after the '#' are not the PIN's business
        ("124#", WRONG_PIN),  # short, ended by '#'
        ("12345", WRONG_PIN),  # the PIN's length + 1 without '#'
        ("9999#", WRONG_PIN),
    ],
)
async def test_pin_keys(keys: str, expected: str | None) -> None:
    assert await run(keys) == expected


@pytest.mark.asyncio
async def test_keys_before_the_answer_do_not_count_and_silence_times_out() -> None:
    assert await run("", early="1234#", timeout=0.05) == no_pin(0.05)
    assert no_pin(20.0) == "No PIN within 20 s"


@pytest.mark.asyncio
async def test_a_call_that_ends_while_waiting_raises_eof() -> None:
    call: Any = SimpleNamespace(dtmf=ReceivedKeys())
    task = asyncio.create_task(check_pin(call, "1", 5.0))
    await asyncio.sleep(0)
    call.dtmf.cancel()
    with pytest.raises(EOFError):
        await task


def test_the_bye_says_why() -> None:
    assert bye_reason(WRONG_PIN) == 'SIP;cause=403;text="Wrong PIN"'
    assert bye_reason(no_pin(20.0)) == 'SIP;cause=408;text="No PIN within 20 s"'
