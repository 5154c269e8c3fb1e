"""Loaded by ``kopf run`` beside examples/appservice-kopf/appservice_kopf.py: the one knob of kopf the
operator benchmark sets alike in every framework, the workers (kopf's thread pool for sync handlers;
kopf has no client-side QPS limit)."""

from __future__ import annotations

import os
from typing import Any

import kopf


@kopf.on.startup()
def workers(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.execution.max_workers = int(os.environ.get("BENCH_WORKERS", "10"))
