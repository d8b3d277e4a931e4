from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcs.rtp.jitter import JitterBuffer


def test_in_order_passes_at_once() -> None:
    jb: JitterBuffer[int] = JitterBuffer(latency=0.1)
    assert jb.next_deadline() is None
    for i in range(5):
        jb.push(10 + i, i * 160, 1.0 + i * 0.02, 10 + i)
        assert jb.next_deadline() == 1.0 + i * 0.02
        assert jb.pop_ready(1.0 + i * 0.02) == [10 + i]
    assert jb.next_deadline() is None and len(jb) == 0
    assert jb.stats.received == jb.stats.released == 5


def test_reorder_restored_when_gap_fills() -> None:
    jb: JitterBuffer[int] = JitterBuffer(latency=0.1)
    jb.push(1, 0, 0.0, 1)
    assert jb.pop_ready(0.0) == [1]
    jb.push(3, 0, 0.01, 3)
    jb.push(4, 0, 0.02, 4)
    assert jb.pop_ready(0.05) == []
    assert jb.next_deadline() == pytest.approx(0.11)
    jb.push(2, 0, 0.06, 2)
    assert jb.pop_ready(0.06) == [2, 3, 4]
    assert jb.stats.lost == 0


def test_loss_given_up_after_latency() -> None:
    jb: JitterBuffer[int] = JitterBuffer(latency=1.0)
    jb.push(1, 0, 0.0, 1)
    jb.push(3, 0, 2.0, 3)
    jb.push(5, 0, 3.0, 5)
    assert jb.pop_ready(2.5) == [1]
    assert jb.next_deadline() == 3.0
    assert jb.pop_ready(3.0) == [3]  # 5 has not waited long enough yet
    assert jb.next_deadline() == 4.0
    assert jb.pop_ready(4.0) == [5]
    assert jb.stats.lost == 2
    jb.push(2, 0, 5.0, 2)  # its turn has passed
    jb.push(5, 0, 5.0, 5)
    assert jb.pop_ready(9.0) == []
    assert jb.stats.late == 2


def test_duplicates_dropped() -> None:
    jb: JitterBuffer[str] = JitterBuffer(latency=0.1)
    jb.push(1, 0, 0.0, "a")
    jb.push(3, 0, 0.0, "c")
    jb.push(3, 0, 0.0, "c2")
    assert jb.stats.duplicate == 1
    jb.push(2, 0, 0.0, "b")
    assert jb.pop_ready(0.0) == ["a", "b", "c"]


def test_sequence_wrap() -> None:
    jb: JitterBuffer[int] = JitterBuffer(latency=0.1)
    jb.push(65534, 0, 0.0, 65534)
    jb.push(0, 0, 0.0, 0)
    jb.push(65535, 0, 0.0, 65535)
    jb.push(1, 0, 0.0, 1)
    assert jb.pop_ready(0.0) == [65534, 65535, 0, 1]


def test_flush_in_sequence_order() -> None:
    jb: JitterBuffer[int] = JitterBuffer(latency=10)
    for s in (65535, 3, 1, 0):
        jb.push(s, 0, 0.0, s)
    assert jb.pop_ready(0.0) == [65535, 0, 1]
    assert jb.flush() == [3]
    assert jb.stats.lost == 1  # 2 was a hole
    jb.push(500, 0, 1.0, 500)  # after a flush the buffer starts over
    assert jb.pop_ready(1.0) == [500]


def test_restart_needs_two_consecutive_packets() -> None:
    jb: JitterBuffer[int] = JitterBuffer(latency=1.0, capacity=100)
    jb.push(10, 0, 0.0, 10)
    jb.push(12, 0, 0.0, 12)
    jb.push(40000, 0, 0.0, 40000)  # stray
    jb.push(13, 0, 0.0, 13)
    assert jb.stats.late == 1
    jb.push(20000, 0, 0.1, 20000)
    jb.push(20001, 0, 0.1, 20001)  # confirmed: 12 and 13 are released first
    assert jb.next_deadline() == float("-inf")
    assert jb.pop_ready(0.1) == [10, 12, 13, 20000, 20001]
    assert jb.stats.resets == 1 and jb.stats.lost == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(latency=-1)
    with pytest.raises(ValueError):
        JitterBuffer(capacity=1)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 200),
    start=st.integers(0, 0xFFFF),
    seed=st.integers(0, 2**32),
    loss=st.floats(0, 0.3),
    dup=st.floats(0, 0.2),
)
def test_property_ordered_unique(n: int, start: int, seed: int, loss: float, dup: float) -> None:
    """Random local reordering within the latency: everything that arrives comes out once,
    in order, and the loss count equals what was really dropped."""
    rnd = random.Random(seed)
    latency = 0.05
    sent = [(start + i) & 0xFFFF for i in range(n)]
    kept = [s for i, s in enumerate(sent) if i == 0 or rnd.random() >= loss]
    arrivals = []
    for i, s in enumerate(kept):
        t = 0.02 * sent.index(s) + rnd.uniform(0, 0.03) if i else 0.0
        arrivals.append((t, s))
        if rnd.random() < dup:
            arrivals.append((t + 0.001, s))
    arrivals.sort()
    jb: JitterBuffer[int] = JitterBuffer(latency=latency)
    out: list[int] = []
    for t, s in arrivals:
        jb.push(s, 0, t, s)
        out += jb.pop_ready(t)
        deadline = jb.next_deadline()
        assert deadline is None or deadline > t  # nothing left that is already due
    out += jb.flush()
    assert out == kept
    assert jb.stats.lost == len(sent[: sent.index(kept[-1]) + 1]) - len(kept)
