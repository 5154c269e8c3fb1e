#!/usr/bin/env bash
# The site's browser check (tests/docs/test_browser.py) opens the built site in the machine's
# Chromium: install the distribution's package when it is missing, as `make test` sets up the rest.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "no Chromium on PATH and no root apt-get to install it: install the chromium package" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
