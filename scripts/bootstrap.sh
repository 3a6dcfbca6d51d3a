#!/usr/bin/env bash
# Installs pnpm (if missing), the workspace's dependencies from the committed lockfile, and builds
# every package. Used by the quick start and by CI. Needs Node 20 and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
want=12.4.2
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$want" ]; then
  echo "installing pnpm@$want" >&2
  npm install -g "pnpm@$want" >/dev/null
fi
export TURBO_TELEMETRY_DISABLED=1
pnpm install --frozen-lockfile
pnpm build
