"""Where control-plane binaries are looked up, and how a failed build is reported."""

from __future__ import annotations

import shutil
import stat
import threading
import time
from pathlib import Path

import pytest

from kubeloop.errors import ComponentError
from kubeloop.testing import assets


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBELOOP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.delenv("TEST_ASSET_ETCD", raising=False)
    monkeypatch.delenv("TEST_ASSET_KUBE_APISERVER", raising=False)
    return tmp_path / "cache"


def test_cache_is_keyed_by_component_version(empty_cache: Path) -> None:
    path = assets.binary_path("kube-apiserver")
    assert (
        path
        == empty_cache / "bin" / f"kubernetes-{assets.COMPONENTS['kubernetes'].version}" / "kube-apiserver"
    )


def test_lookup_prefers_test_asset_variable_then_kubebuilder_assets_then_cache(
    empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert assets.find_binary("etcd") is None
    cached = _executable(assets.binary_path("etcd"))
    assert assets.find_binary("etcd") == cached
    kubebuilder = _executable(tmp_path / "kb" / "etcd")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(kubebuilder.parent))
    assert assets.find_binary("etcd") == kubebuilder
    explicit = _executable(tmp_path / "explicit" / "my-etcd")
    monkeypatch.setenv("TEST_ASSET_ETCD", str(explicit))
    assert assets.find_binary("etcd") == explicit


def test_cached_components_are_reused_without_go(empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in assets.COMPONENTS["etcd"].binaries:
        _executable(assets.binary_path(name))
    monkeypatch.setenv("PATH", "/nonexistent")
    lines: list[str] = []
    assets.build_all(["etcd"], progress=lines.append)
    assert lines == [
        f"etcd-{assets.COMPONENTS['etcd'].version}: cached ({assets.binary_path('etcd').parent})"
    ]


def test_missing_go_is_a_one_line_error_naming_the_component(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ComponentError) as info:
        assets.build_all(["etcd"], progress=lambda _: None)
    assert str(info.value) == "build etcd: the `go` command was not found on PATH; install Go"


def test_failed_module_download_names_the_component_and_its_log(
    empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = shutil.which("go")
    assert go is not None, "go is required by the control-plane build"
    monkeypatch.setenv("GOPROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "modcache"))
    monkeypatch.setenv("GOFLAGS", "-modcacherw")
    with pytest.raises(ComponentError) as info:
        assets.build_all(["etcd"], progress=lambda _: None)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("build etcd: `go get` failed")
    assert info.value.log_path is not None
    log = Path(info.value.log_path)
    assert log.is_file()
    assert "127.0.0.1:9" in log.read_text()
    assert not assets.binary_path("etcd").exists()


def test_staging_modules_are_read_from_the_kubernetes_go_mod() -> None:
    go_mod = "replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tfoo => bar v1\n)\n"
    assert assets._staging_modules(go_mod) == ["k8s.io/api"]


def test_components_build_at_once_except_helm_server_after_helm(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    lock = threading.Lock()
    etcd_started = threading.Event()

    def fake_build(component: assets.Component, progress: object, force: bool) -> Path:
        with lock:
            events.append(f"start {component.name}")
        if component.name == "helm":  # still building when etcd starts: etcd is not queued behind it
            assert etcd_started.wait(10)
        if component.name == "etcd":
            etcd_started.set()
        time.sleep(0.05)
        with lock:
            events.append(f"end {component.name}")
        return Path("/built") / component.name

    monkeypatch.setattr(assets, "build_component", fake_build)
    built = assets.build_all(["helm-server", "etcd", "helm"], progress=lambda _: None)
    assert list(built) == ["helm-server", "etcd", "helm"]
    assert built["helm-server"] == Path("/built/helm-server")
    assert events.index("end helm") < events.index("start helm-server")
    assert events.index("start etcd") < events.index("end helm")
