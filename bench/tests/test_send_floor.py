"""bench.send_floor: every sender delivers what it counts, and the sealed ones are real SRTP.

Run: python3 -m pytest -q bench/tests/test_send_floor.py (needs gcc and 2 CPUs).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pylibsrtp
import pytest

from bench import send_floor


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("floor")
    loop_ns, rows = send_floor.schedule()
    sched = tmp / "schedule.txt"
    sched.write_text(f"{loop_ns}\n" + "".join(f"{o} {s + send_floor.TAG}\n" for o, s in rows))
    return send_floor._binary(tmp), sched


@pytest.mark.parametrize("variant", send_floor.VARIANTS)
def test_every_datagram_counted_arrives(variant: str, built: tuple[Path, Path]) -> None:
    binary, sched = built
    out = send_floor.one_run(variant, 3, 0.2, 0.5, binary, sched)
    assert out["errors"] == 0
    assert out["sent"] > 0 and out["sent"] % 3 == 0  # each source packet to all 3
    assert out["received_total"] == out["total"]
    assert out["cpu"] > 0


@pytest.mark.parametrize("variant", ["py-seal", "py-seal-mmsg"])
def test_sealed_datagrams_open_with_each_viewers_key(variant: str) -> None:
    socks = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [str(s.getsockname()[1]) for s in socks]
    cmd = [sys.executable, "-m", "bench.send_floor", "--py-sender", variant]
    proc = subprocess.run(
        [*cmd, "--warmup", "0", "--window", "0.3", *ports],
        capture_output=True,
        text=True,
        check=True,
    )
    total = json.loads(proc.stdout)["total"]
    assert total > 0
    for i, s in enumerate(socks):
        rx = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=bytes((i + k) % 256 for k in range(28)),
                ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
            )
        )
        s.setblocking(False)
        opened = 0
        while True:
            try:
                data = s.recv(2048)
            except BlockingIOError:
                break
            plain = rx.unprotect(data)
            assert len(plain) == len(data) - send_floor.TAG
            opened += 1
        assert opened == total // 2
        s.close()
