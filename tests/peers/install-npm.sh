#!/usr/bin/env bash
# Node tools the browser tests drive Chromium with: playwright-core (no browser download;
# the tests use Debian's /usr/bin/chromium). Installed into tests/peers/.npm, not committed.
# Idempotent: nothing to do (and no network) when it is already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="$here/.npm"
if [ -e "$prefix/node_modules/playwright-core/package.json" ]; then
  echo "install-npm: playwright-core present"
  exit 0
fi
if ! command -v npm >/dev/null; then
  SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
mkdir -p "$prefix"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix "$prefix" playwright-core
echo "install-npm: playwright-core installed in $prefix"
