"""The release read from its Secret as Helm's Secret driver stores it (base64 of gzipped JSON, under
the Secret's own base64), and the digest of what a release is made from."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

from kubeloop.helm._helm import INPUTS_LABEL, decode_release, inputs_digest


def secret(release: dict, labels: dict[str, str]) -> dict:
    payload = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    return {
        "metadata": {"name": "sh.helm.release.v1.app.v3", "labels": labels},
        "type": "helm.sh/release.v1",
        "data": {"release": base64.b64encode(payload).decode()},
    }


def test_a_release_secret_decodes_to_its_revision_status_manifest_values_and_inputs() -> None:
    stored = {
        "name": "app",
        "namespace": "ns",
        "version": 3,
        "info": {"status": "deployed"},
        "manifest": "---\nkind: Deployment\n",
        "chart": {"metadata": {"name": "c", "version": "0.1.0"}},
        "config": {"size": 2},
    }
    release = decode_release(secret(stored, {"owner": "helm", "version": "3", INPUTS_LABEL: "abc"}))
    assert (release.name, release.namespace, release.revision, release.status) == ("app", "ns", 3, "deployed")
    assert (release.manifest, release.chart_version, release.config, release.inputs) == (
        "---\nkind: Deployment\n",
        "0.1.0",
        {"size": 2},
        "abc",
    )
    assert decode_release(secret({**stored, "config": None}, {})).inputs == ""


def test_the_inputs_digest_follows_the_chart_files_and_the_values(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: c\n")
    (chart / "templates" / "d.yaml").write_text("kind: Deployment\n")
    first = inputs_digest(chart, {"a": 1, "b": {"c": 2}})
    assert len(first) <= 63  # a label value
    assert inputs_digest(chart, {"b": {"c": 2}, "a": 1}) == first  # key order does not matter
    assert inputs_digest(chart, {"a": 2, "b": {"c": 2}}) != first
    (chart / "templates" / "d.yaml").write_text("kind: Deployment # changed\n")
    assert inputs_digest(chart, {"a": 1, "b": {"c": 2}}) != first
