"""A Helm operator's watches file (operator-sdk's keys, errors naming the entry) and its values."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.ansible import WatchesError
from kubeloop.gvk import GroupVersionKind
from kubeloop.helm import is_helm_watches, load_helm_watches, merge

EXAMPLE = Path(__file__).parents[3] / "examples/appservice-helm/watches.yaml"


def test_the_examples_watches_file_maps_appservice_to_its_chart() -> None:
    assert is_helm_watches(EXAMPLE)
    (watch,) = load_helm_watches(EXAMPLE)
    assert watch.gvk == GroupVersionKind("app.example.com", "v1", "AppService")
    assert watch.chart == EXAMPLE.parent / "helm-charts/appservice"
    assert (watch.reconcile_period, watch.watch_dependent_resources, watch.override_values) == (0.0, True, {})


def test_every_key_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGE", "nginx:1.27")
    (tmp_path / "chart.tgz").write_bytes(b"")
    path = tmp_path / "watches.yaml"
    path.write_text(
        "- {group: g.io, version: v1, kind: K, chart: chart.tgz, overrideValues: {image: '${IMAGE}'},"
        " reconcilePeriod: 2m, watchDependentResources: false, maxConcurrentReconciles: 3}\n"
    )
    (watch,) = load_helm_watches(path)
    assert watch.override_values == {"image": "nginx:1.27"}
    assert (watch.reconcile_period, watch.watch_dependent_resources, watch.max_concurrent_reconciles) == (
        120.0,
        False,
        3,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- {group: g, version: v1, kind: K}", "must specify chart"),
        ("- {group: g, version: v1, kind: K, chart: nowhere}", "nowhere was not found"),
        ("- {group: g, kind: K, chart: nowhere}", "version and kind must not be empty"),
    ],
)
def test_a_bad_entry_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "watches.yaml"
    path.write_text(text)
    with pytest.raises(WatchesError, match=message):
        load_helm_watches(path)


def test_override_values_win_key_by_key() -> None:
    spec = {"size": 2, "image": {"repository": "nginx", "tag": "1.27"}}
    assert merge(spec, {"image": {"tag": "1.28"}}) == {
        "size": 2,
        "image": {"repository": "nginx", "tag": "1.28"},
    }
