"""The store keeps its indexes in step with every write."""

from __future__ import annotations

from kubeloop.cache import INDEX_NAMESPACE, INDEX_OWNER, Indexer, ObjectKey


def cm(ns: str, name: str, owner: str | None = None, **labels: str) -> dict[str, object]:
    meta: dict[str, object] = {"namespace": ns, "name": name, "labels": labels}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "kind": "X", "name": "x", "apiVersion": "v1"}]
    return {"metadata": meta}


def names(objs: list[dict[str, object]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)  # type: ignore[index]


def test_namespace_and_owner_indexes_follow_updates_and_deletes() -> None:
    store = Indexer()
    store.upsert(cm("a", "one", owner="u1"))
    store.upsert(cm("a", "two", owner="u1"))
    store.upsert(cm("b", "three", owner="u2"))
    assert names(store.by_index(INDEX_NAMESPACE, "a")) == ["one", "two"]
    assert names(store.by_index(INDEX_OWNER, "u1")) == ["one", "two"]
    store.upsert(cm("a", "two", owner="u2"))
    assert names(store.by_index(INDEX_OWNER, "u1")) == ["one"]
    assert names(store.by_index(INDEX_OWNER, "u2")) == ["three", "two"]
    store.delete(ObjectKey("a", "one"))
    assert store.by_index(INDEX_OWNER, "u1") == []
    assert len(store) == 2


def test_added_index_covers_objects_stored_before() -> None:
    store = Indexer()
    store.upsert(cm("a", "one", app="web"))
    store.upsert(cm("a", "two", app="db"))
    store.add_indexer("app", lambda o: [o["metadata"]["labels"]["app"]])
    assert names(store.by_index("app", "web")) == ["one"]
    store.upsert(cm("a", "three", app="web"))
    assert names(store.by_index("app", "web")) == ["one", "three"]


def test_a_store_without_the_default_indexes_keeps_only_those_added() -> None:
    store = Indexer({"app": lambda o: [o["metadata"]["labels"]["app"]]}, defaults=False)
    assert store.indexes == ("app",)
    store.upsert(cm("a", "one", owner="u1", app="web"))
    store.upsert(cm("a", "two", owner="u1", app="db"))
    assert names(store.by_index("app", "web")) == ["one"]
    assert names(list(store)) == ["one", "two"]
    assert store.get(ObjectKey("a", "two")) is not None
    store.delete(ObjectKey("a", "one"))
    assert store.by_index("app", "web") == []
    assert Indexer().indexes == (INDEX_NAMESPACE, INDEX_OWNER)


def test_cluster_scoped_keys_print_without_namespace() -> None:
    assert str(ObjectKey("", "node-1")) == "node-1"
    assert str(ObjectKey("ns", "cm")) == "ns/cm"


def test_slim_managed_fields_keeps_managers_and_drops_field_sets() -> None:
    from kubeloop.cache import slim_managed_fields

    obj = {
        "metadata": {
            "name": "x",
            "managedFields": [
                {"manager": "op", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}},
                {"manager": "kcm", "operation": "Update", "subresource": "status", "fieldsV1": {}},
            ],
        }
    }
    assert slim_managed_fields(obj)["metadata"]["managedFields"] == [
        {"manager": "op", "operation": "Apply"},
        {"manager": "kcm", "operation": "Update", "subresource": "status"},
    ]


def test_slim_managed_fields_except_keeps_one_managers_entries_whole() -> None:
    from kubeloop.cache import slim_managed_fields_except

    own = {"manager": "op", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}
    obj = {
        "metadata": {
            "name": "x",
            "managedFields": [dict(own), {"manager": "kcm", "operation": "Update", "fieldsV1": {"f:x": {}}}],
        }
    }
    assert slim_managed_fields_except("op")(obj)["metadata"]["managedFields"] == [
        own,
        {"manager": "kcm", "operation": "Update"},
    ]
