#!/usr/bin/env bash
# The quick start: install pnpm (if missing) and the workspace's dependencies, build every package,
# then start the gateway, the example board Degas, the web page and three bots. Needs Node 20+.
# Arguments are passed to examples/quickstart/start.mjs (e.g. `./quickstart.sh --bots 5`).
set -euo pipefail
cd "$(dirname "$0")"
# `pnpm test` drives a real Chromium; on Debian as root, install it once (skipped when present).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser test" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: the browser test in 'pnpm test' needs /usr/bin/chromium (apt-get install chromium)" >&2
  fi
fi
scripts/bootstrap.sh
# node directly (not `pnpm start`) so that Ctrl-C ends with exit 0 and no package-manager noise.
exec node examples/quickstart/start.mjs "$@"
