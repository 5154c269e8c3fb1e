"""Typed reads cost nothing on the hot path, on the real API server and the embedded one: a reconcile's
``ctx.get``/``ctx.list`` of a typed built-in kind (``core_v1.ConfigMap``) hand back the very dicts the
cache holds, the same objects an untyped read (``"v1/ConfigMap"``) returns: no copy and no parse per
read (docs/benchmarks/typed.md measures it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubeloop as kl
from kubeloop.client import Client
from kubeloop.resources import core_v1
from kubeloop.testing import run_operator, until


async def test_a_typed_read_from_the_cache_is_the_cached_dict_itself(
    kubeconfig: Path, api: Client, ns: str
) -> None:
    operator = kl.Operator("typed-reads-test", namespace=ns)
    reads: list[tuple[Any, ...]] = []

    @operator.reconcile(core_v1.ConfigMap)
    async def reconcile(cm: core_v1.ConfigMap, ctx: kl.Context) -> None:
        name = (cm.get("metadata") or {}).get("name", "")
        if name != "typed":
            return
        typed = await ctx.get(core_v1.ConfigMap, name)
        plain = await ctx.get("v1/ConfigMap", name)
        typed_list = await ctx.list(core_v1.ConfigMap)
        plain_list = await ctx.list("v1/ConfigMap")
        reads.append((typed, plain, typed_list, plain_list))

    await api.create(core_v1.ConfigMap(metadata={"name": "typed", "namespace": ns}, data={"a": "b"}))
    async with run_operator(operator, kubeconfig):
        await until(lambda: bool(reads), what="a reconcile reading the ConfigMap typed and untyped")
    typed, plain, typed_list, plain_list = reads[0]
    assert type(typed) is dict
    assert typed is plain, "a typed get copied or parsed the cached object"
    assert typed.get("data") == {"a": "b"}
    assert [id(o) for o in typed_list] == [id(o) for o in plain_list], "a typed list copied or parsed"
    assert any(o is typed for o in typed_list)
