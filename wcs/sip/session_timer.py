"""Session timers (RFC 4028) of the calls: who refreshes, when, and what expiry does.

Choices: when the peer is the refresher, BYE is sent at interval - min(32, interval/3) with
no refresh seen (§10); when we are, we refresh at interval/2 with UPDATE if the peer allows
it, else with a re-INVITE carrying our last SDP. A 2xx without Session-Expires turns the
timer off (§7.2). The 422 answer to our initial INVITE is handled with the INVITE.
"""

from __future__ import annotations

from .call import Calls, SipCall
from .endpoint import ALLOW, Endpoint
from .message import SipRequest, SipResponse


def parse_session_expires(value: str | None) -> tuple[int, str | None] | None:
    """ "1800;refresher=uac" → (1800, "uac"); None when absent or unreadable."""
    if not value:
        return None
    head, _, params = value.partition(";")
    if not head.strip().isdigit():
        return None
    refresher = None
    for p in params.split(";"):
        name, _, v = p.partition("=")
        if name.strip().lower() == "refresher":
            refresher = v.strip().lower() or None
    return int(head.strip()), refresher


class SessionTimer:
    """The session timer of every call: armed from a 2xx, refreshed or expired by the queue."""

    def __init__(
        self, endpoint: Endpoint, calls: Calls, *, session_expires: int, min_se: int
    ) -> None:
        self.endpoint = endpoint
        self.calls = calls
        self.session_expires = session_expires  # what we ask for; 0 disables
        self.min_se = min_se

    def prepare(self, call: SipCall) -> None:
        """What a new call's INVITE asks for."""
        call.session_expires = max(self.session_expires, self.min_se) if self.session_expires else 0
        call.min_se = self.min_se

    def from_2xx(self, call: SipCall, resp: SipResponse, now: float) -> None:
        se = parse_session_expires(resp.headers.get("Session-Expires"))
        if se is None:
            call.se_interval = 0  # §7.2: no Session-Expires in the 2xx: no expiration
            self.endpoint.queue.cancel(("st-refresh", call.ref))
            self.endpoint.queue.cancel(("st-expire", call.ref))
            return
        call.se_interval = se[0]
        call.we_refresh = (se[1] or "uac") == "uac"
        self.arm(call, now)

    def from_request(self, call: SipCall, req: SipRequest) -> None:
        """A peer's re-INVITE/UPDATE: note what our 2xx to it will say."""
        se = parse_session_expires(req.headers.get("Session-Expires"))
        supported = {o.lower() for o in req.headers.get_all("Supported")}
        if se is not None:
            min_se = (req.headers.get("Min-SE") or "").split(";")[0].strip()
            interval = max(se[0], int(min_se) if min_se.isdigit() else 0)
            # the peer is this request's UAC: it refreshes unless it asked us to
            call.pending_se = (interval, se[1] or "uac")
            call.pending_timer_required = "timer" in supported
        else:
            call.pending_se = None

    def add_to_response(self, call: SipCall, resp: SipResponse) -> None:
        """Our 2xx to the peer's re-INVITE/UPDATE: its Session-Expires becomes the timer."""
        if call.pending_se is not None:
            interval, refresher = call.pending_se
            resp.headers.add("Session-Expires", f"{interval};refresher={refresher}")
            if call.pending_timer_required:
                resp.headers.add("Require", "timer")
            call.se_interval = interval
            call.we_refresh = refresher == "uas"
        else:
            call.se_interval = 0

    def arm(self, call: SipCall, now: float) -> None:
        queue = self.endpoint.queue
        queue.cancel(("st-refresh", call.ref))
        queue.cancel(("st-expire", call.ref))
        interval = call.se_interval
        if interval <= 0 or call.state != "confirmed":
            return
        if call.we_refresh:
            queue.set(
                ("st-refresh", call.ref),
                now + interval / 2,
                lambda n: self._refresh(call, n),
            )
        else:
            at = now + interval - min(32, interval / 3)
            queue.set(("st-expire", call.ref), at, lambda n: self._expired(call, n))

    def _expired(self, call: SipCall, now: float) -> None:
        self.calls.send_bye(call, now, by_remote=False, info="Session timer expired")

    def _refresh(self, call: SipCall, now: float) -> None:
        queue = self.endpoint.queue
        if call.state != "confirmed" or call.dialog is None:
            return
        if call.pending is not None or call.refresh is not None:
            # an offer/answer is in progress: try again shortly
            queue.set(("st-refresh", call.ref), now + 2.0, lambda n: self._refresh(call, n))
            return
        method = "UPDATE" if call.peer_allows_update else "INVITE"
        req = self.calls.in_dialog(call, method)
        req.headers.add("Contact", self.endpoint.contact(call.account))
        req.headers.add("Supported", "timer")
        req.headers.add("Session-Expires", f"{call.se_interval};refresher=uac")
        req.headers.add("Min-SE", str(call.min_se))
        if method == "INVITE":
            req.headers.add("Allow", ALLOW)
            req.headers.add("Content-Type", "application/sdp")
            req.body = call.local_sdp
        queue.set(
            ("st-expire", call.ref),
            now + call.se_interval - min(32, call.se_interval / 3),
            lambda n: self._expired(call, n),
        )

        def final(resp: SipResponse | None, info: str, n: float) -> None:
            call.refresh = None
            if call.state != "confirmed":
                return
            if resp is None or resp.status in (408, 481):
                self.calls.send_bye(call, n, by_remote=False, info="Session refresh failed")
                return
            if method == "INVITE" and resp.status < 300:
                self.ack_reinvite(call, req, resp)
            if resp.status < 300:
                if call.dialog is not None:
                    call.dialog.update_target(resp)
                self.from_2xx(call, resp, n)
            elif resp.status == 422:
                value = (resp.headers.get("Min-SE") or "").split(";")[0].strip()
                if value.isdigit():
                    call.se_interval = max(call.se_interval, int(value))
                    call.min_se = call.se_interval
                self._refresh(call, n)
            else:
                queue.set(("st-refresh", call.ref), n + 2.0, lambda m: self._refresh(call, m))

        call.refresh = self.calls.dialog_request(call, req, final, now)

    def ack_reinvite(self, call: SipCall, invite: SipRequest, resp: SipResponse) -> None:
        assert call.dialog is not None
        ack = call.dialog.ack(invite.cseq[0])
        dest = self.calls.dialog_dest(call)
        ack.headers.insert("Via", self.endpoint.via(dest[2]))
        self.endpoint.common_headers(ack)
        data = ack.serialize()
        call.ack = (data, dest)
        call.ack_cseq = invite.cseq[0]
        self.endpoint.send(data, dest)
