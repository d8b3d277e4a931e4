"""Re-record conformance/rtmp/nginx-publish.pcap: one real publish session to nginx-rtmp.

Run from the repository root as root (tshark on lo): ``python3 -m conformance.rtmp.make_trace``.
Starts nginx-rtmp on a free port, tshark on that port, publishes ~1.5 s of the
02-call-av trace (H.264 + AAC) with our client, closes politely, stops both by PID.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.integration.test_rtmp_nginx import load_trace, publish_paced, schedule
from tests.peers.rtmp import start_nginx_rtmp
from wcs.rtmp.aac import AacEncoder
from wcs.rtmp.client import RtmpPublisher

OUT = Path(__file__).with_name("nginx-publish.pcap")
SECONDS = 1.5


async def publish(url: str) -> None:
    media = load_trace()
    items = [i for i in schedule(media, 1) if i[0] < SECONDS * 1000]
    pub = RtmpPublisher(url)
    await pub.connect()
    await publish_paced(pub, media, AacEncoder(8000).audio_specific_config, items)
    await pub.close()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_nginx_rtmp(Path(tmp))
        cap = subprocess.Popen(
            [
                "tshark",
                "-q",
                "-i",
                "lo",
                "-f",
                f"tcp port {server.port}",
                "-F",
                "pcap",
                "-w",
                str(OUT),
            ],
            stderr=subprocess.PIPE,
        )
        try:
            assert cap.stderr is not None
            for line in cap.stderr:  # wait until it really captures
                if b"Capturing on" in line:
                    break
            asyncio.run(publish(server.url("trace")))
            time.sleep(0.5)
        finally:
            cap.terminate()
            cap.wait(10)
            server.stop()
    OUT.chmod(0o644)  # tshark writes 0600
    print(f"{OUT}: {OUT.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
