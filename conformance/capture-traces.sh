#!/usr/bin/env bash
# Re-create conformance/traces/{01-register,02-call-av,03-call-busy}.pcap with the
# project's own peer scripts (tests/peers): Kamailio on a free loopback port, baresip
# callee 1002 and caller 1001, dumpcap on lo filtered to the ports in use.
# usage: conformance/capture-traces.sh [OUTDIR]    (default: conformance/traces)
# Needs the peers (tests/peers/install-peers.sh) and root or CAP_NET_RAW for dumpcap.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/conformance/traces}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
py="${PYTHON:-python3}"
[ -x "$root/.venv/bin/python" ] && py="$root/.venv/bin/python"
cd "$root"
exec "$py" -m tests.peers.make_traces "$out"
