#!/usr/bin/env bash
# Debian's Chromium for the console's browser tests (tests/python/test_console.py drives it with
# Playwright, which never downloads a browser of its own). Installs the package when /usr/bin/chromium
# is missing: as root, or through sudo without a password. Safe to run again.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
as_root=()
if [ "$(id -u)" != 0 ]; then
  as_root=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium
/usr/bin/chromium --version 2>/dev/null
