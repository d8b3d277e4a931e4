"""wcs.acceptor: accept() out of file descriptors backs off (one log line) and resumes.

The exhausted process is a child (its own RLIMIT_NOFILE): it fills its descriptor table,
the parent connects, and the child reports how often it tried to accept and what it logged.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wcs.acceptor import Admission
from wcs.limits import Quota, RateLimit

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, json, logging, os, resource, socket, sys
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    records = []
    class Keep(logging.Handler):
        def emit(self, record): records.append(record.getMessage())
    logging.getLogger().addHandler(Keep())
    logging.getLogger().setLevel(logging.DEBUG)
    if sys.argv[1] == "uvloop":
        import uvloop; uvloop.install()
    import wcs.acceptor as acceptor_module
    from wcs.acceptor import Acceptor

    accepts = 0
    real_accept = socket.socket.accept
    def counting_accept(self):
        global accepts
        accepts += 1
        return real_accept(self)
    socket.socket.accept = counting_accept

    served = []
    class Echo(asyncio.Protocol):
        def connection_made(self, t):
            served.append(1); t.write(b"hi"); t.close()

    async def main():
        acc = Acceptor(lambda admission: Echo())
        port = await acc.start("127.0.0.1", 0)
        hog = []
        while True:
            try:
                hog.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        print(port, flush=True)
        sys.stdin.readline()  # the parent connected
        await asyncio.sleep(2.0)
        exhausted = accepts
        for fd in hog:
            os.close(fd)
        for _ in range(100):
            if served:
                break
            await asyncio.sleep(0.05)
        acc.close()
        print(json.dumps({"accepts_while_exhausted": exhausted, "served": len(served),
                          "log": records}), flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_accept_out_of_descriptors_backs_off_logs_once_and_resumes(loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, loop],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        port = int(child.stdout.readline())
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        child.stdin.write("go\n")
        child.stdin.flush()
        report = json.loads(child.stdout.readline())
        client.settimeout(10)
        assert client.recv(2) == b"hi"  # served once descriptors were free again
        client.close()
    finally:
        child.kill()
        child.wait()
    # 2 s out of descriptors: back-off 0.05, 0.1, 0.2, 0.4, 0.8, 1.0 ... -> a handful of
    # tries (asyncio's own loop retried its whole backlog every tick: thousands).
    assert 1 <= report["accepts_while_exhausted"] <= 10, report
    warnings = [m for m in report["log"] if "file_descriptors" in m]
    assert len(warnings) == 1, report["log"]
    assert report["served"] == 1


def test_quota_total_and_per_ip_with_release() -> None:
    q = Quota("test_conns", total=3, per_key=2)
    assert q.admit("a") and q.admit("a")
    assert not q.admit("a")  # per IP
    assert q.admit("b")
    assert not q.admit("c")  # total
    q.release("a")
    assert q.admit("c")
    assert q.used == 3 and q.held("a") == 1
    q.release("zzz")  # never admitted: no effect
    assert q.used == 3


def test_admission_releases_once() -> None:
    q = Quota("test_adm", total=1)
    assert q.admit("a")
    adm = Admission(q, "a")
    adm.release()
    adm.release()
    assert q.used == 0
    assert q.admit("b") and not q.admit("c")


def test_rate_limit_token_bucket_per_key() -> None:
    r = RateLimit("test_rate", rate=10.0, burst=3)
    now = 100.0
    assert [r.allow("a", now) for _ in range(4)] == [True, True, True, False]
    assert r.allow("b", now)  # another address has its own bucket
    assert not r.allow("a", now + 0.05)  # half a token
    assert r.allow("a", now + 0.15)  # a whole token back after 1/rate
    assert RateLimit("test_off", rate=0, burst=1).allow("a", now)


def test_refusals_are_counted_and_logged_at_most_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from wcs import limits

    clock = [0.0]
    before = limits.REJECTIONS.labels("test_flood").value
    with caplog.at_level("WARNING", logger="wcs.limits"):
        for _ in range(1000):
            limits.refuse("test_flood", "x", clock=lambda: clock[0])
        clock[0] += limits.LOG_INTERVAL + 1
        limits.refuse("test_flood", "x", clock=lambda: clock[0])
    assert limits.REJECTIONS.labels("test_flood").value - before == 1001
    lines = [r.getMessage() for r in caplog.records if "test_flood" in r.getMessage()]
    assert len(lines) == 2 and "999 more" in lines[1], lines
