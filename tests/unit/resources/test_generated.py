"""The committed ``kubeloop/resources/<group>_<version>.py`` are what ``hack/generate-resources.py``
writes from the pinned Kubernetes version's OpenAPI (read from the Go module cache, which building the
control plane fills): a changed generator or a moved version pin without regenerating fails here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HACK = Path(__file__).parents[3] / "hack" / "generate-resources.py"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_resources", HACK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_committed_modules_are_what_the_generator_writes() -> None:
    gen = generator()
    expected: dict[str, str] = gen.generate(gen.load_spec())
    committed = {path.name: path.read_text() for path in gen.generated_modules()}
    assert sorted(committed) == sorted(expected), "run: .venv/bin/python hack/generate-resources.py"
    stale = [name for name, text in expected.items() if committed[name] != text]
    assert not stale, f"out of date: {stale}; run: .venv/bin/python hack/generate-resources.py"
