"""The application layer: what joins a SIP call to a named stream and the stream to its sinks.

- ``calls``: CallManager, the REST call semantics on top of ``wcs.sip.UserAgent``;
- ``media``: a call's media — a sans-IO core (offer/answer, hold, RTP sessions, publishing)
  and its socket edge;
- ``stream_feed``: received RTP → the stream's packets and frames (timing, keyframes);
- ``streams``: StreamHub, named streams; ``publish`` gives the publisher its Publication;
- ``stream``: one Stream as its users see it (status, tracks, subscriptions, watchers);
- ``hooks``: WCS REST hooks (status events to the appKey's backend).
- ``inbound``: who may call us (registrations, trunks) and what the call becomes (dispatch);
  ``inbound_calls`` carries that out on incoming calls; ``registrations``: our accounts'
  registrations, their refresh and backoff.
"""
