"""Headless Chromium as a WebRTC player: the binary and the flags that keep it on loopback."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.peers.procs import PeerError

# Flags that make Chromium usable as a loopback WebRTC peer in CI:
# - it offers a 127.0.0.1 ICE candidate only with --allow-loopback-in-peer-connection;
# - no mDNS ".local" candidates, no DNS, no background network traffic;
# - a fake camera/microphone and no permission prompts.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)


@dataclass(frozen=True)
class Chromium:
    path: str

    def argv(self, user_data_dir: Path, *extra: str) -> list[str]:
        """Command line for a fresh profile in ``user_data_dir``; add e.g. ``--dump-dom``, URL."""
        return [self.path, *HEADLESS_FLAGS, f"--user-data-dir={user_data_dir}", *extra]


def find_chromium() -> Chromium:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return Chromium(path)
    raise PeerError(
        "chromium is not installed (apt package chromium); run tests/peers/install-peers.sh"
    )
