#!/usr/bin/env bash
# Build (or reuse) the pinned control-plane binaries into ~/.cache/kubeloop (KUBELOOP_CACHE_DIR).
# Versions: src/kubeloop/testing/versions.py.  Same as `kubeloop controlplane build`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m kubeloop.cli.main controlplane build "$@"
