#!/usr/bin/env bash
# Install the third-party peers the tests start (Debian 12 / bookworm):
#   kamailio           SIP registrar + proxy (auth_db, db_text, usrloc, tm... are in the main package)
#   kamailio-tls-modules  tls.so: Kamailio listening for SIP over TLS (secure SIP tests)
#   baresip-core       SIP user agent (caller and callee), ctrl_tcp, g711, opus, aufile, sndfile
#   baresip-ffmpeg     avcodec (H.264) and avformat (video file source) for baresip
#   sip-tester         SIPp 3.6: scripted SIP callers and caller farms (tests/peers/sipp.py)
#   tshark             dumpcap/tshark: loopback captures (conformance/capture-traces.sh)
#   ffmpeg             test clips, RTMP publisher and ffprobe
#   nginx, libnginx-mod-rtmp   RTMP server
#   chromium           headless WebRTC player
#   gstreamer1.0-*     gst-launch-1.0 with rtspsrc: a second RTSP client for the RTSP tests;
#                      webrtcbin (-bad), libnice (-nice), x264enc (-ugly) and the Python
#                      bindings (python3-gi, gir1.2-gst-*): tests/peers/gst_whip.py, a
#                      GStreamer WHIP publisher (Debian's simple-whip-client cannot run:
#                      libsoup2 and libnice's libsoup3 in one process; bookworm's -bad has
#                      no whipsink)
# Idempotent: when every package is installed it does nothing and uses no network.
# Needs root; uses sudo when not root. PEERS_SKIP_APT_UPDATE=1 never runs apt-get update.
set -euo pipefail

PKGS=(kamailio kamailio-tls-modules baresip-core baresip-ffmpeg tshark ffmpeg nginx libnginx-mod-rtmp chromium sip-tester
      gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good redis-server
      gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice
      python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0)

t0=$(date +%s%N)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-peers: all present (${PKGS[*]}) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-peers: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi

echo "install-peers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# wireshark-common asks whether non-root users may capture: answer "no" up front.
echo "wireshark-common wireshark-common/install-setuid boolean false" \
  | "${SUDO[@]}" debconf-set-selections || true

# Keep the packages' own services (kamailio on :5060, nginx on :80) from starting:
# the tests run private copies on free ports. Removed again on exit if we added it.
added_policy=0
cleanup() { if [ "$added_policy" = 1 ]; then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
  added_policy=1
fi

# Stale or absent package lists give 404s or "no installation candidate": refresh once,
# only when some wanted package has no candidate or the lists are missing.
need_update=0
if [ "${PEERS_SKIP_APT_UPDATE:-0}" != 1 ]; then
  for p in "${missing[@]}"; do
    cand="$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then need_update=1; break; fi
  done
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ] || need_update=1
fi
if [ "$need_update" = 1 ]; then
  "${SUDO[@]}" apt-get update -qq
fi

log="${TMPDIR:-/tmp}/install-peers-apt.$$.log"
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" > "$log" 2>&1; then
  # a download 404 means the lists were stale after all: update once and retry
  if [ "$need_update" = 0 ] && [ "${PEERS_SKIP_APT_UPDATE:-0}" != 1 ]; then
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" > "$log" 2>&1 \
      || { tail -n 30 "$log" >&2; exit 1; }
  else
    tail -n 30 "$log" >&2; exit 1
  fi
fi
rm -f "$log"

for m in g711 opus aufile sndfile fakevideo avcodec avformat menu ctrl_tcp account aubridge; do
  [ -e "/usr/lib/baresip/modules/$m.so" ] || { echo "install-peers: baresip module $m missing" >&2; exit 1; }
done
[ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || { echo "install-peers: ngx_rtmp_module.so missing" >&2; exit 1; }
echo "install-peers: installed ${missing[*]} in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
