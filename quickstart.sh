#!/usr/bin/env bash
# The quick start: install pnpm (if missing) and the workspace's dependencies, build every package,
# then start the gateway, the example board Degas, the web page and three bots. Needs Node 20+.
# Arguments are passed to examples/quickstart/start.mjs (e.g. `./quickstart.sh --bots 5`, or
# `./quickstart.sh --nodes 3` for a cluster of three gateway nodes joined by nats-server).
set -euo pipefail
cd "$(dirname "$0")"
# Debian packages: chromium for the browser test of `pnpm test`; nats-server for `--nodes N` and
# the cluster tests. On Debian as root, install what is missing once (skipped when present).
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
# The TLS tests: openssl makes the test certificates, certutil puts the test CA in Chromium's store.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v certutil >/dev/null 2>&1 || need+=(libnss3-tools)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's ${need[*]} (browser test, cluster, TLS tests)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: the browser test in 'pnpm test' needs /usr/bin/chromium, and '--nodes N' and the cluster" >&2
    echo "      tests need nats-server, the TLS tests openssl and certutil: sudo apt-get install ${need[*]}" >&2
  fi
fi
scripts/bootstrap.sh
# node directly (not `pnpm start`) so that Ctrl-C ends with exit 0 and no package-manager noise.
exec node examples/quickstart/start.mjs "$@"
