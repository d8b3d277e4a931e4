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

from tests.integration.test_rtmp_nginx import load_trace, publish_paced, run_nginx, schedule
from wcs.rtmp.aac import AacEncoder
from wcs.rtmp.client import RtmpPublisher

OUT = Path(__file__).with_name("nginx-publish.pcap")
SECONDS = 1.5


async def publish(url: str) -> None:
    media = load_trace()
    items = [i for i in schedule(media, 1) if i[0] < SECONDS * 1000]
    pub = RtmpPublisher(url, "trace")
    await pub.connect()
    await publish_paced(pub, media, AacEncoder(8000).audio_specific_config, items)
    await pub.close()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, run_nginx(Path(tmp)) as server:
        cap = subprocess.Popen(
            ["tshark", "-q", "-i", "lo", "-f", f"tcp port {server.port}", "-F", "pcap",
             "-w", str(OUT)],
            stderr=subprocess.PIPE,
        )
        try:
            assert cap.stderr is not None
            for line in cap.stderr:  # wait until it really captures
                if b"Capturing on" in line:
                    break
            asyncio.run(publish(server.url()))
            time.sleep(0.5)
        finally:
            cap.terminate()
            cap.wait(10)
    print(f"{OUT}: {OUT.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
