"""Downstream of a secure call (issue 16 part 5): a call over TLS with SDES-SRTP mandatory
to a baresip registered over TLS (``mediaenc=srtp-mand``) is republished to a real
nginx-rtmp (direct SIP-as-RTMP through ``/call/startup``); ffprobe of the pulled stream
shows H.264 + AAC and PyAV decodes it without errors. (Recording of a secure call:
``test_sip_tls_real_peers.py``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import HookCollector, WcsFactory
from tests.integration.push_helpers import stream_push_msid, wait_push
from tests.integration.test_push_calls import Probe, Puller, base_url, new_id
from tests.integration.test_sip_tls_real_peers import NAMES, tls_body
from tests.integration.test_srtp_real_peers import find_call
from tests.peers.rtmp import NginxRtmp
from tests.peers.tls_ca import TestCa

pytestmark = pytest.mark.peers


def test_secure_call_pushes_h264_and_aac_to_nginx_rtmp(
    kamailio_factory: Any,
    callee: Any,
    wcs: WcsFactory,
    hooks: HookCollector,
    nginx_rtmp: NginxRtmp,
    tmp_path: Path,
) -> None:
    ca = TestCa(tmp_path / "ca")
    cert = ca.issue("kamailio", NAMES)
    kam = kamailio_factory(tls=(cert.cert, cert.key))
    peer = callee("1003", kamailio=kam, mediaenc="srtp-mand", transport="tls", cafile=ca.pem)
    server = wcs(rest_hooks=f"testApp={hooks.url}", sip_tls_ca_file=ca.pem)
    cid = new_id()
    published = f"secure_{cid}"
    url = nginx_rtmp.url(published)
    probe, puller = Probe(url), Puller(url)  # waiting at nginx before the push publishes
    body = tls_body(kam, cid, peer.user, sipSrtp="mandatory", rtmpUrl=base_url(nginx_rtmp),
                    rtmpStream=published)  # fmt: skip
    assert server.rest("call/startup", body)[0] == 200
    hooks.wait_status(cid, "ESTABLISHED")
    call = find_call(server, cid)
    assert (call["sipTransport"], call["srtpProfile"]) == ("TLS", "AES_CM_128_HMAC_SHA1_80")
    msid = stream_push_msid(hooks, published)
    wait_push(hooks, msid, "PUBLISHING")
    streams = probe.join()
    assert streams["video"]["codec_name"] == "h264"
    assert streams["audio"]["codec_name"] == "aac"
    assert server.rest("call/terminate", {"callId": cid}) == (200, None)
    wait_push(hooks, msid, "STOPPED")
    pulled = puller.join(30)
    assert pulled.decode_errors == 0 and pulled.video_frames > 30 and pulled.audio_frames > 100
    assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" in peer.log
    assert "inline:" not in server.log()
