#!/usr/bin/env bash
# The quick start: install pnpm (if missing) and the workspace's dependencies, build every package,
# then start the gateway, the example board Degas, the web page and three bots. Needs Node 20+.
# Arguments are passed to examples/quickstart/start.mjs (e.g. `./quickstart.sh --bots 5`).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
# node directly (not `pnpm start`) so that Ctrl-C ends with exit 0 and no package-manager noise.
exec node examples/quickstart/start.mjs "$@"
