"""kopf's contender of the runtime benchmark: ``kopf run --standalone -n NS bench/runtime/kopf_op.py``
(started by ``run.py``). One async event handler on ConfigMaps that only calls ``Recorder.seen`` —
kopf's closest equivalent of a no-op reconcile.

Fairness settings: posting of k8s Events off (``settings.posting.enabled = False``); ``@kopf.on.event``
handlers keep no progress or diff-base annotations and add no finalizer, so kopf writes nothing to the
API server; ``--standalone`` (no peering); ``--quiet`` (warnings only, as ours); async handler (no
thread pool); everything else kopf's defaults.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import kopf

sys.path.insert(0, str(Path(__file__).parent))
from common import Recorder

recorder = Recorder.from_env()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    settings.posting.level = logging.CRITICAL
    recorder.emit("start")


@kopf.on.event("", "v1", "configmaps")
async def seen(body: kopf.Body, **_: Any) -> None:
    recorder.seen(body)
