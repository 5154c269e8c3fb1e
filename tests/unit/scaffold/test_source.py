"""Where a new project's kubeloop comes from: what the running kubeloop was installed from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeloop.scaffold import _source
from kubeloop.scaffold._source import KubeloopSource, kubeloop_source


class Installed:
    """An installed distribution as importlib.metadata gives it: a version and its direct_url.json."""

    def __init__(self, direct_url: dict[str, object] | None, version: str = "1.2.3") -> None:
        self.version = version
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return json.dumps(self.direct_url) if self.direct_url is not None else None


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> list[Installed]:
    found: list[Installed] = []
    monkeypatch.setattr(_source, "distribution", lambda name: found[0])
    return found


def test_an_explicit_checkout_is_installed_editable(tmp_path: Path) -> None:
    assert kubeloop_source(tmp_path) == KubeloopSource(f"kubeloop @ {tmp_path.as_uri()}", tmp_path)


def test_from_a_wheel_the_project_installs_that_wheel(installed: list[Installed], tmp_path: Path) -> None:
    wheel = tmp_path / "kubeloop-1.2.3-py3-none-any.whl"
    wheel.write_bytes(b"")
    installed.append(Installed({"url": wheel.as_uri(), "archive_info": {"hashes": {}}}))
    source = kubeloop_source()
    assert source == KubeloopSource(f"kubeloop @ {wheel.as_uri()}", None)
    assert source.direct


def test_from_an_editable_checkout_the_project_installs_it_editable(
    installed: list[Installed], tmp_path: Path
) -> None:
    installed.append(Installed({"url": tmp_path.as_uri(), "dir_info": {"editable": True}}))
    assert kubeloop_source() == KubeloopSource(f"kubeloop @ {tmp_path.as_uri()}", tmp_path)


def test_from_an_index_the_project_requires_this_version_or_later(installed: list[Installed]) -> None:
    installed.append(Installed(None))
    source = kubeloop_source()
    assert source == KubeloopSource("kubeloop>=1.2.3")
    assert not source.direct


def test_a_wheel_since_deleted_falls_back_to_the_version(installed: list[Installed], tmp_path: Path) -> None:
    gone = tmp_path / "kubeloop-1.2.3-py3-none-any.whl"
    installed.append(Installed({"url": gone.as_uri(), "archive_info": {}}))
    assert kubeloop_source() == KubeloopSource("kubeloop>=1.2.3")
