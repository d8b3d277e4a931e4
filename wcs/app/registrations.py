"""Registrations of our own accounts, so that a registrar routes calls to us (issue 12).

Each :class:`AccountRegistration` lives from ``/sip/register`` (or the TOML config) to
``/sip/unregister``: REGISTERING → REGISTERED, refreshed by the UA before expiry; a failure
(a final non-2xx, a timeout, a 401 the credentials cannot answer) makes it FAILED with the
SIP status and an info, and a new REGISTER follows after a backoff (``retry`` s, doubled per
failure up to ``retry_max``) — never a tight loop. A refresh refused after a success (the
registrar restarted: 404, 481, ...) registers again after ``retry_after_loss`` s, once; then
the backoff applies. The password is never part of :meth:`AccountRegistration.to_json`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wcs.app.errors import RequestError
from wcs.app.inbound import Dispatch
from wcs.sip import events as sev
from wcs.sip.registration import refresh_delay
from wcs.sip.ua import Account, UserAgent

log = logging.getLogger(__name__)


class RegStatus(enum.StrEnum):
    REGISTERING = "REGISTERING"
    REGISTERED = "REGISTERED"
    FAILED = "FAILED"


@dataclass(slots=True)
class AccountRegistration:
    registration_id: str
    account: Account
    dispatch: Dispatch = field(default_factory=Dispatch)
    expires: int | None = None  # None: the server's sip_register_expires
    status: RegStatus = RegStatus.REGISTERING
    info: str | None = None
    sip_status: int | None = None
    ua_id: str | None = None
    next_refresh: float | None = None  # wall clock (s since the epoch)
    next_retry: float | None = None
    failures: int = 0
    attempts: int = 0
    was_registered: bool = False
    retry_timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        a, d = self.account, self.dispatch
        return {
            "registrationId": self.registration_id,
            "sipLogin": a.login,
            "sipAuthenticationName": a.auth_name or a.login,
            "sipDomain": a.domain,
            "sipOutboundProxy": a.outbound_proxy or None,
            "sipPort": a.port,
            "sipTransport": a.transport.upper(),
            "expires": self.expires,
            "status": self.status.value,
            "info": self.info,
            "lastSipStatus": self.sip_status,
            "nextRefresh": _ms(self.next_refresh),
            "nextRetry": _ms(self.next_retry),
            "attempts": self.attempts,
            "toStream": d.to_stream,
            "hasAudio": d.has_audio,
            "hasVideo": d.has_video,
            "record": d.record,
            "rtmpUrl": d.rtmp_url,
            "answer": d.answer,
            "appKey": d.app_key,
            "pinRequired": bool(d.pin),  # the PIN itself is a secret: never shown
        }


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


class AccountRegistrations:
    def __init__(
        self,
        ua: UserAgent,
        wake: Callable[[], None],
        clock: Callable[[], float],
        *,
        retry: float = 30.0,
        retry_max: float = 600.0,
        retry_after_loss: float = 1.0,
    ) -> None:
        self._ua = ua
        self._wake = wake
        self._clock = clock  # the UA's clock
        self.retry = retry
        self.retry_max = retry_max
        self.retry_after_loss = retry_after_loss
        self._regs: dict[str, AccountRegistration] = {}
        self._by_ua: dict[str, AccountRegistration] = {}
        self._count = 0

    # ---------------------------------------------------------------- REST side
    def new_id(self) -> str:
        self._count += 1
        while f"reg{self._count}" in self._regs:
            self._count += 1
        return f"reg{self._count}"

    def add(self, reg: AccountRegistration) -> AccountRegistration:
        if reg.registration_id in self._regs:
            raise RequestError(409, "registration exists", "registrationId")
        for other in self._regs.values():
            o = other.account
            if (o.login, o.domain) == (reg.account.login, reg.account.domain):
                raise RequestError(409, "this account is already registered", "sipLogin")
        self._regs[reg.registration_id] = reg
        self._start(reg)
        return reg

    def remove(self, registration_id: str) -> bool:
        reg = self._regs.pop(registration_id, None)
        if reg is None:
            return False
        self._cancel_retry(reg)
        if reg.ua_id is not None:
            self._by_ua.pop(reg.ua_id, None)
            self._ua.unregister(reg.ua_id, self._clock())  # REGISTER with Expires: 0
            self._wake()
        return True

    def get(self, registration_id: str) -> AccountRegistration | None:
        return self._regs.get(registration_id)

    def all(self) -> list[AccountRegistration]:
        return list(self._regs.values())

    def by_login(self, login: str) -> tuple[Account, Dispatch] | None:
        for reg in self._regs.values():
            if reg.account.login == login:
                return reg.account, reg.dispatch
        return None

    def shutdown(self) -> None:
        """The UA's shutdown removes the bindings; only our retries are to stop."""
        for reg in self._regs.values():
            self._cancel_retry(reg)

    # ---------------------------------------------------------------- SIP side
    def on_sip_event(self, event: sev.Event) -> None:
        if not isinstance(event, sev.RegistrationSucceeded | sev.RegistrationFailed):
            return
        reg = self._by_ua.get(event.reg_id)
        if reg is None:
            return
        if isinstance(event, sev.RegistrationSucceeded):
            reg.failures = 0
            reg.was_registered = True
            reg.next_retry = None
            reg.next_refresh = time.time() + refresh_delay(event.expires)
            self._update(reg, RegStatus.REGISTERED, 200, None)
            return
        # the UA dropped that registration: the next attempt is a new one
        self._by_ua.pop(event.reg_id, None)
        reg.ua_id = None
        reg.next_refresh = None
        lost = reg.was_registered
        reg.was_registered = False
        reg.failures += 1
        if lost:
            delay = self.retry_after_loss
            reg.failures = 0
        else:
            delay = min(self.retry * 2 ** (reg.failures - 1), self.retry_max)
        reg.next_retry = time.time() + delay
        info = event.info or event.reason
        log.warning(
            "registration %s (%s@%s) failed: %s %s; again in %.0f s",
            reg.registration_id,
            reg.account.login,
            reg.account.domain,
            event.status,
            info,
            delay,
        )
        self._update(reg, RegStatus.FAILED, event.status, info)
        loop = asyncio.get_running_loop()
        reg.retry_timer = loop.call_later(delay, self._retry, reg)

    # ---------------------------------------------------------------- internals
    def _start(self, reg: AccountRegistration) -> None:
        reg.attempts += 1
        reg.ua_id = self._ua.register(reg.account, self._clock(), reg.expires)
        self._by_ua[reg.ua_id] = reg
        if reg.status != RegStatus.REGISTERING:
            self._update(reg, RegStatus.REGISTERING, reg.sip_status, reg.info)
        self._wake()

    def _retry(self, reg: AccountRegistration) -> None:
        reg.retry_timer = None
        if self._regs.get(reg.registration_id) is reg and reg.ua_id is None:
            self._start(reg)

    def _cancel_retry(self, reg: AccountRegistration) -> None:
        if reg.retry_timer is not None:
            reg.retry_timer.cancel()
            reg.retry_timer = None

    def _update(
        self, reg: AccountRegistration, status: RegStatus, sip_status: int | None, info: str | None
    ) -> None:
        reg.status, reg.sip_status, reg.info = status, sip_status, info
