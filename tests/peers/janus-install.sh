#!/usr/bin/env bash
# Install Janus (streaming plugin, HTTP transport) and a C compiler for its loopback shim:
# only `make bench` needs them, so `make test` stays fast. Idempotent: nothing to do (and no
# network used) when everything is present. Needs root or sudo.
set -euo pipefail
PKGS=(janus gcc libc6-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "janus-install: all present (${PKGS[*]})"; exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "janus-install: need root or sudo for: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "janus-install: installing ${missing[*]}"
# The package's own service must not start: the benchmark runs a private copy on free ports.
added_policy=0
cleanup() { if [ "$added_policy" = 1 ]; then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
  added_policy=1
fi
cand="$(apt-cache policy janus 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then "${SUDO[@]}" apt-get update -qq; fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "janus-install: done"
