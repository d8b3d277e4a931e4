"""Typing of the sans-IO contract (see the package docstring)."""

from __future__ import annotations

from typing import Protocol, TypeVar

A = TypeVar("A")
T_co = TypeVar("T_co", covariant=True)


class Core(Protocol):
    """What every core has: a next deadline, a way to fire it, and events."""

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> object | None: ...


class DatagramCore(Core, Protocol[A]):
    """A core on datagrams: each outgoing unit carries its destination."""

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, A]]: ...


class StreamCore(Core, Protocol[T_co]):
    """A core talking to one remote (TCP, a WebSocket, a DTLS association): no addresses."""

    def data_to_send(self, now: float) -> T_co: ...
