"""``wait_for_crds``' own logic, with a stand-in kubectl that answers as kubectl does: ``wait`` prints
the CRDs, and ``get`` says "doesn't have a resource type" for the first tries (the discovery lag that
the real server shows a moment after Established, which cannot be forced there: see
tests/conformance/testing/test_wait_for_crds.py for the real server)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from kubeloop.errors import KubeloopError
from kubeloop.testing import CRDNotReadyError, Kubectl, KubectlError, wait_for_crds


def crd(plural: str, group: str, *versions: tuple[str, bool], **status: object) -> dict[str, object]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"plural": plural},
            "versions": [{"name": name, "served": served} for name, served in versions],
        },
        "status": status,
    }


def stand_in(
    tmp_path: Path, printed: list[dict[str, object]], misses: int, stderr: str, wait_says: str = ""
) -> Kubectl:
    """A kubectl whose ``wait`` prints ``printed`` one object after another (or, given ``wait_says``,
    prints that and fails, and ``get crd`` prints ``printed``) and whose ``get`` fails with ``stderr``
    ``misses`` times, then lists nothing; each call's arguments go to ``calls``."""
    (tmp_path / "printed").write_text("\n".join(json.dumps(p, indent=2) for p in printed))
    (tmp_path / "stderr").write_text(stderr)
    (tmp_path / "wait_says").write_text(wait_says)
    script = tmp_path / "kubectl"
    script.write_text(
        f"""#!/bin/sh
cd {tmp_path}
echo "$*" >> calls
case "$1" in
  wait) if [ -s wait_says ]; then cat wait_says >&2; exit 1; fi; cat printed ;;
  get)
    if [ "$2" = crd ]; then cat printed; exit 0; fi
    n=$(grep -c '^get ' calls)
    if [ "$n" -le {misses} ]; then cat stderr >&2; exit 1; fi ;;
esac
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return Kubectl(tmp_path / "kubeconfig", executable=str(script))


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls").read_text().splitlines()


MISSING = 'error: the server doesn\'t have a resource type "probes"\n'


def test_it_lists_every_served_version_until_kubectl_finds_them_and_returns_the_crds_as_named(
    tmp_path: Path,
) -> None:
    a = crd("probes", "a.example.com", ("v1", True), ("v2", True), ("v0", False))
    b = crd("gauges", "b.example.com", ("v1", True))
    kubectl = stand_in(tmp_path, [b, a], misses=2, stderr=MISSING)
    assert wait_for_crds(kubectl, "probes.a.example.com", "gauges.b.example.com") == [a, b]
    wait, *gets = calls(tmp_path)
    assert wait.startswith(
        "wait --for=condition=Established crd/probes.a.example.com crd/gauges.b.example.com"
    )
    assert len(gets) == 3  # two misses, then found
    listed = "probes.v1.a.example.com,probes.v2.a.example.com,gauges.v1.b.example.com"
    assert all(g.startswith(f"get {listed} --all-namespaces -l ") for g in gets)
    caches = [g.rpartition("--cache-dir=")[2] for g in gets]
    assert len(set(caches)) == 3, "each try reads discovery with an empty cache of its own"
    assert not any(Path(c).exists() for c in caches)


def test_a_list_of_crds_printed_at_once_is_read_too(tmp_path: Path) -> None:
    a = crd("probes", "a.example.com", ("v1", True))
    kubectl = stand_in(tmp_path, [{"kind": "List", "items": [a]}], misses=0, stderr="")
    assert wait_for_crds(kubectl, "probes.a.example.com") == [a]


def test_a_resource_the_server_answers_404_for_is_waited_for_too(tmp_path: Path) -> None:
    notfound = (
        'Error from server (NotFound): Unable to list "a.example.com/v1, Resource=probes": '
        "the server could not find the requested resource (get probes.a.example.com)\n"
    )
    kubectl = stand_in(tmp_path, [crd("probes", "a.example.com", ("v1", True))], misses=1, stderr=notfound)
    wait_for_crds(kubectl, "probes.a.example.com")
    assert len(calls(tmp_path)) == 3


def test_another_kubectl_failure_is_raised_at_once(tmp_path: Path) -> None:
    forbidden = 'Error from server (Forbidden): probes.a.example.com is forbidden: User "u" cannot list\n'
    kubectl = stand_in(tmp_path, [crd("probes", "a.example.com", ("v1", True))], misses=5, stderr=forbidden)
    with pytest.raises(KubectlError, match="Forbidden"):
        wait_for_crds(kubectl, "probes.a.example.com")
    assert len(calls(tmp_path)) == 2


def test_a_resource_never_served_fails_naming_it_after_the_timeout(tmp_path: Path) -> None:
    kubectl = stand_in(tmp_path, [crd("probes", "a.example.com", ("v1", True))], misses=10**6, stderr=MISSING)
    with pytest.raises(AssertionError) as raised:
        wait_for_crds(kubectl, "probes.a.example.com", timeout=0.3)
    assert str(raised.value) == (
        "CRD probes.a.example.com: probes.v1.a.example.com not served within 0.3 s"
        """ (kubectl: error: the server doesn't have a resource type "probes")"""
    )
    assert isinstance(raised.value, CRDNotReadyError)
    assert isinstance(raised.value, KubeloopError), "kubeloop dev shows it as one line"


TIMED_OUT = "error: timed out waiting for the condition on customresourcedefinitions/gadgets.a.example.com\n"


def test_a_crd_never_established_fails_naming_it_and_its_conditions_not_true(tmp_path: Path) -> None:
    conflict = [
        {
            "type": "NamesAccepted",
            "status": "False",
            "reason": "KindConflict",
            "message": '"Gadget" is already in use',
        },
        {
            "type": "Established",
            "status": "False",
            "reason": "NotAccepted",
            "message": "not all names are accepted",
        },
    ]
    ok = [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]
    printed = [
        crd("probes", "a.example.com", ("v1", True), conditions=ok),
        crd("gadgets", "a.example.com", ("v1", True), conditions=conflict),
    ]
    kubectl = stand_in(tmp_path, printed, misses=0, stderr="", wait_says=TIMED_OUT)
    with pytest.raises(CRDNotReadyError) as raised:
        wait_for_crds(kubectl, "probes.a.example.com", "gadgets.a.example.com", timeout=2)
    assert str(raised.value) == (
        'CRD gadgets.a.example.com (NamesAccepted=False (KindConflict: "Gadget" is already in use);'
        " Established=False (NotAccepted: not all names are accepted)) not Established within 2 s"
    )
    assert isinstance(raised.value, AssertionError)
    assert calls(tmp_path)[1] == "get crd probes.a.example.com gadgets.a.example.com -o json"


def test_a_crd_with_no_conditions_yet_says_so(tmp_path: Path) -> None:
    kubectl = stand_in(tmp_path, [crd("probes", "a.example.com", ("v1", True))], 0, "", wait_says=TIMED_OUT)
    with pytest.raises(
        CRDNotReadyError,
        match=r"^CRD probes\.a\.example\.com \(no conditions yet\) not Established within 1 s$",
    ):
        wait_for_crds(kubectl, "probes.a.example.com", timeout=1)


def test_a_name_that_is_no_crd_raises_kubectls_error_at_once(tmp_path: Path) -> None:
    notfound = (
        "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io"
        ' "nope.a.example.com" not found\n'
    )
    kubectl = stand_in(tmp_path, [], misses=0, stderr="", wait_says=notfound)
    with pytest.raises(KubectlError, match="NotFound") as raised:
        wait_for_crds(kubectl, "nope.a.example.com")
    assert not isinstance(raised.value, AssertionError)
    assert len(calls(tmp_path)) == 1


def test_every_benchmark_waits_for_its_crds_to_be_served_not_only_established() -> None:
    """The benchmarks start operators that list their kind at once, which kube-apiserver serves a moment
    after Established: each waits with wait_for_crds, not with `kubectl wait` for Established alone."""
    bench = Path(__file__).parents[3] / "bench"
    alone = [
        f"{path.relative_to(bench.parent)}:{n}"
        for path in sorted(bench.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "condition=Established" in line
    ]
    assert alone == []
