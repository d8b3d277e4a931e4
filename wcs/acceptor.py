"""TCP listening sockets whose accept loop is ours: admission by a :class:`Quota` and a
back-off when file descriptors run out.

asyncio's own accept loop (3.11) answers EMFILE by logging a traceback and retrying up to
its backlog in the same tick, with as many retry timers: under ``ulimit -n 256`` a few
hundred idle connections made it write ~100 000 ERROR lines in seconds while REST timed
out; uvloop's silently accepts and resets. Here accept() stops for a while (one
rate-limited line, ``wcs_limit_rejections_total{limit="file_descriptors"}``) and resumes.

A connection over its quota is accepted and closed at once (optionally after a short
``refusal`` answer written without waiting): the kernel backlog never fills with clients we
will not serve. Accepted sockets go to the loop with ``connect_accepted_socket``, which
asyncio and uvloop both provide.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
from collections.abc import Callable

from wcs import netaddr
from wcs.limits import Quota, refuse

log = logging.getLogger(__name__)

_BACKLOG = 128
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0


class Admission:
    """One admitted connection's place in a quota; ``release()`` may be called often."""

    __slots__ = ("_quota", "ip")

    def __init__(self, quota: Quota | None, ip: str) -> None:
        self._quota = quota
        self.ip = ip

    def release(self) -> None:
        if self._quota is not None:
            self._quota.release(self.ip)
            self._quota = None


ProtocolFactory = Callable[[Admission], asyncio.BaseProtocol]


class Acceptor:
    def __init__(
        self,
        factory: ProtocolFactory,
        *,
        quota: Quota | None = None,
        ssl_context: ssl.SSLContext | None = None,
        refusal: bytes = b"",
    ) -> None:
        self._factory = factory
        self._quota = quota
        self._ssl = ssl_context
        self._refusal = refusal
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socks: list[socket.socket] = []
        self._paused: asyncio.TimerHandle | None = None
        self._backoff = BACKOFF_FIRST
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, bind_ip: str, port: int) -> int:
        """Listen on ``bind_ip`` (``::``: both families) and ``port`` (0: any); the port."""
        self._loop = asyncio.get_running_loop()
        hosts = netaddr.listen_hosts(bind_ip)
        try:
            for host in [hosts] if isinstance(hosts, str) else hosts:
                port = self._listen(host, port)
        except OSError:
            self.close()
            raise
        for sock in self._socks:
            self._loop.add_reader(sock.fileno(), self._accept, sock)
        return port

    def _listen(self, host: str, port: int) -> int:
        sock = socket.socket(netaddr.family(host), socket.SOCK_STREAM)
        self._socks.append(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
        sock.setblocking(False)
        return int(sock.getsockname()[1])

    @property
    def sockets(self) -> list[socket.socket]:
        return list(self._socks)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(_BACKLOG):
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                self._backoff = BACKOFF_FIRST
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause(exc)
                    return
                # a connection that failed while queued (ECONNABORTED, EPROTO, a network
                # error passed on by Linux): only that one is lost
                log.debug("accept() failed: %s", exc)
                continue
            self._admit(conn, netaddr.unmap(str(addr[0])))

    def _pause(self, exc: OSError) -> None:
        assert self._loop is not None
        refuse("file_descriptors", f"accept() failed ({exc.strerror}); pausing accepts")
        for sock in self._socks:
            self._loop.remove_reader(sock.fileno())
        delay, self._backoff = self._backoff, min(BACKOFF_MAX, self._backoff * 2)
        self._paused = self._loop.call_later(delay, self._resume)

    def _resume(self) -> None:
        assert self._loop is not None
        self._paused = None
        for sock in self._socks:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _admit(self, conn: socket.socket, ip: str) -> None:
        if self._quota is not None and not self._quota.admit(ip):
            with contextlib.suppress(OSError):
                conn.setblocking(False)
                if self._refusal:
                    conn.send(self._refusal)
            conn.close()
            return
        admission = Admission(self._quota, ip)
        assert self._loop is not None
        task = self._loop.create_task(self._serve(conn, admission))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket, admission: Admission) -> None:
        assert self._loop is not None
        try:
            conn.setblocking(False)
            await self._loop.connect_accepted_socket(
                lambda: self._factory(admission), conn, ssl=self._ssl
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            log.debug("accepted connection from %s failed to start: %s", admission.ip, exc)
            admission.release()
            conn.close()

    def close(self) -> None:
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        for sock in self._socks:
            if self._loop is not None and sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._socks = []
        for task in list(self._tasks):
            task.cancel()
