"""A real Kubernetes control plane on loopback, for tests and local runs (kubeloop's envtest).

``ControlPlane`` starts etcd and kube-apiserver, and on request kube-controller-manager
(garbage collection, Deployments→ReplicaSets→Pods, namespace deletion) and kube-scheduler
plus kwok with fake nodes (pods are scheduled and reach Running).  Ports are free loopback
ports, certificates are generated, authorization is RBAC, the admin user is in
``system:masters``.  Every process is stopped and the temporary directory removed on exit,
whether the body returned, raised or was interrupted.  When start-up fails, the error names
the component and keeps its log file.

Guarantees: ``start()`` returns only when kube-apiserver answers ``/readyz`` (and every
requested component is healthy, and requested nodes are Ready).  Caveat: ``start()`` blocks;
``async with`` runs it in a worker thread, and a cancel (Ctrl-C in ``kubeloop dev``) stops that start
at once: what started is killed and removed, nothing more starts.

Faults for chaos tests: ``restart`` a component (``restart_apiserver``, ``restart_etcd``) and
``compact_etcd``; ``kubeloop.testing.faults.FaultProxy`` adds network faults between a client and
kube-apiserver.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import dataclasses
import json
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from kubeloop.certs import CertificateAuthority, write_signing_key
from kubeloop.errors import ComponentError
from kubeloop.testing import assets
from kubeloop.testing.kubectl import Kubectl
from kubeloop.testing.process import ManagedProcess, Progress, free_port, port_in_use

__all__ = ["ControlPlane", "ControlPlaneOptions"]

FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"


@dataclass(frozen=True)
class ControlPlaneOptions:
    """What to run.  ``nodes > 0`` starts kube-scheduler and kwok and creates that many fake nodes."""

    controller_manager: bool = False
    nodes: int = 0
    apiserver_port: int | None = None
    start_timeout: float = 60.0
    """Seconds a starting component may go without progress (its log not growing, its health check's
    answer not changing; for the fake nodes, kwok's log and the nodes' Ready) before its start fails; a
    hung one fails this soon."""
    start_limit: float = 300.0
    """Seconds a start may take in all, progress or not (``start_timeout`` if that is longer): a
    component given a small share of a loaded machine logs all along but took over a minute to be ready
    (load 20-30, at nice 19)."""
    service_cluster_ip_range: str = "10.0.0.0/24"
    apiserver_args: tuple[str, ...] = ()
    """Extra kube-apiserver flags, e.g. ``("--enable-admission-plugins", "NamespaceLifecycle")``."""
    controller_manager_args: tuple[str, ...] = ()
    """Extra kube-controller-manager flags, e.g. ``("--kube-api-qps=200",)``."""
    etcd_args: tuple[str, ...] = ()
    """Extra etcd flags, e.g. ``("--quota-backend-bytes=8589934592",)``."""


def _binary(name: str) -> str:
    found = assets.find_binary(name)
    if found is None:
        raise ComponentError(
            name,
            f"binary not found (looked in $TEST_ASSET_*, $KUBEBUILDER_ASSETS and {assets.binary_path(name)});"
            " build it with `kubeloop controlplane build`",
        )
    return str(found)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class ControlPlane:
    """etcd + kube-apiserver (+ controller manager, scheduler, kwok) on loopback."""

    def __init__(self, options: ControlPlaneOptions | None = None, **overrides: Any) -> None:
        base = options or ControlPlaneOptions()
        self.options = dataclasses.replace(base, **overrides)
        self._processes: list[ManagedProcess] = []
        self._probes: dict[str, tuple[str, ssl.SSLContext | None]] = {}
        self._dir: Path | None = None
        self._logs: Path | None = None
        self.apiserver_port = 0
        self.etcd_port = 0
        self._ca: CertificateAuthority | None = None
        self._starting = threading.Lock()  # a start's spawns against _abort_start
        self._aborted = False

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The temporary directory with certificates, data and the kubeconfig."""
        if self._dir is None:
            raise RuntimeError("control plane not started")
        return self._dir

    @property
    def kubeconfig(self) -> Path:
        """Path of the admin kubeconfig."""
        return self.directory / "admin.kubeconfig"

    @property
    def server(self) -> str:
        """The kube-apiserver URL."""
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def log_dir(self) -> Path:
        """Directory of the components' log files (kept when start-up fails)."""
        if self._logs is None:
            raise RuntimeError("control plane not started")
        return self._logs

    @property
    def processes(self) -> tuple[ManagedProcess, ...]:
        """The running component processes, in start order."""
        return tuple(self._processes)

    @property
    def pids(self) -> dict[str, int]:
        """Component name → pid of every started process."""
        return {p.name: p.pid for p in self._processes if p.pid is not None}

    def start(self) -> Self:
        """Start every requested component and wait until healthy; stop all on any failure."""
        self._dir = Path(tempfile.mkdtemp(prefix="kubeloop-cp-"))
        self._logs = Path(tempfile.mkdtemp(prefix="kubeloop-cp-logs-"))
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop(keep_logs=not self._aborted)
            raise
        return self

    def _abort_start(self) -> None:
        """Stop a start under way in another thread: what it started is killed (its waits then fail
        and it cleans up) and nothing more starts."""
        with self._starting:
            self._aborted = True
            for proc in self._processes:
                proc.kill()

    def stop(self, keep_logs: bool = False) -> None:
        """Stop every process (newest first) and remove the temporary data; idempotent."""
        for proc in reversed(self._processes):
            proc.stop()
        self._processes.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        if self._logs is not None and not keep_logs:
            shutil.rmtree(self._logs, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        starting = asyncio.ensure_future(asyncio.to_thread(self.start))
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            self._abort_start()
            try:
                await starting
            except Exception:  # the start stopped, and removed what it had started
                pass
            else:
                await asyncio.to_thread(self.stop)  # it was done before the abort
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- components ----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        with self._starting:
            if self._aborted:
                raise ComponentError(name, "not started: the start was stopped")
            proc = ManagedProcess(name, argv, self.log_dir / f"{name}.log")
            self._processes.append(proc)
            proc.start()
        return proc

    def _start(self) -> None:
        opts = self.options
        binaries = {"etcd": _binary("etcd"), "kube-apiserver": _binary("kube-apiserver")}
        if opts.controller_manager:
            binaries["kube-controller-manager"] = _binary("kube-controller-manager")
        if opts.nodes:
            binaries["kube-scheduler"] = _binary("kube-scheduler")
            binaries["kwok"] = _binary("kwok")

        if opts.apiserver_port is not None and port_in_use(opts.apiserver_port):
            raise ComponentError("kube-apiserver", f"port 127.0.0.1:{opts.apiserver_port} is already in use")
        self.apiserver_port = opts.apiserver_port or free_port()
        self.etcd_port = free_port()
        d = self.directory

        ca = self._ca = CertificateAuthority()
        (d / "ca.crt").write_bytes(ca.cert_pem)
        serving_cert, serving_key = ca.serving(
            "127.0.0.1",
            "localhost",
            "10.0.0.1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ).write(d, "apiserver")
        admin = ca.client("kubeloop-admin", ("system:masters",))
        admin.write(d, "admin")
        sa_key, sa_pub = write_signing_key(d, "service-account")
        self._write_kubeconfig(self.kubeconfig, ca.cert_pem, admin.cert_pem, admin.key_pem)

        etcd = self._spawn(
            "etcd",
            [
                binaries["etcd"],
                "--data-dir",
                str(d / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{free_port()}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
                *opts.etcd_args,
            ],
        )
        apiserver = self._spawn(
            "kube-apiserver",
            [
                binaries["kube-apiserver"],
                "--etcd-servers",
                f"http://127.0.0.1:{self.etcd_port}",
                "--bind-address",
                "127.0.0.1",
                "--advertise-address",
                "127.0.0.1",
                "--secure-port",
                str(self.apiserver_port),
                "--cert-dir",
                str(d / "apiserver-certs"),
                "--tls-cert-file",
                str(serving_cert),
                "--tls-private-key-file",
                str(serving_key),
                "--client-ca-file",
                str(d / "ca.crt"),
                "--authorization-mode",
                "RBAC",
                "--service-cluster-ip-range",
                opts.service_cluster_ip_range,
                "--allow-privileged=true",
                "--disable-admission-plugins",
                "ServiceAccount",
                "--service-account-issuer",
                "https://kubernetes.default.svc",
                "--service-account-key-file",
                str(sa_pub),
                "--service-account-signing-key-file",
                str(sa_key),
                "--endpoint-reconciler-type",
                "none",
                "--feature-gates",
                "WatchList=true",
                *opts.apiserver_args,
            ],
        )
        self._probes["etcd"] = (f"http://127.0.0.1:{self.etcd_port}/health", None)
        self._probes["kube-apiserver"] = (f"{self.server}/readyz", self.ssl_context())
        self._wait_healthy(etcd, self._start_limit)
        self._wait_healthy(apiserver, self._start_limit)

        secondary = self._start_secondary(binaries, str(sa_key))
        for proc, url in secondary:
            self._probes[proc.name] = (url, _insecure_context())
            self._wait_healthy(proc, self._start_limit)
        if opts.nodes:
            self._create_nodes(opts.nodes)

    @property
    def _start_limit(self) -> float:
        """The longest a start may take: ``start_limit``, or ``start_timeout`` if that is longer."""
        return max(self.options.start_limit, self.options.start_timeout)

    def _wait_healthy(self, proc: ManagedProcess, limit: float) -> None:
        """Wait for ``proc``'s health probe while it makes progress (``start_timeout``), up to ``limit`` s."""
        proc.wait_healthy(*self._probes[proc.name], quiet=self.options.start_timeout, limit=limit)

    def _component_flags(self, port: int) -> list[str]:
        kubeconfig = str(self.kubeconfig)
        return [
            "--kubeconfig",
            kubeconfig,
            "--authentication-kubeconfig",
            kubeconfig,
            "--authorization-kubeconfig",
            kubeconfig,
            "--leader-elect=false",
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            str(port),
            "--cert-dir",
            str(self.directory / "component-certs"),
        ]

    def _start_secondary(self, binaries: dict[str, str], sa_key: str) -> list[tuple[ManagedProcess, str]]:
        started: list[tuple[ManagedProcess, str]] = []
        if self.options.controller_manager:
            port = free_port()
            proc = self._spawn(
                "kube-controller-manager",
                [
                    binaries["kube-controller-manager"],
                    *self._component_flags(port),
                    "--controllers",
                    "*",
                    "--service-account-private-key-file",
                    sa_key,
                    "--root-ca-file",
                    str(self.directory / "ca.crt"),
                    "--use-service-account-credentials=false",
                    "--concurrent-gc-syncs",
                    "5",
                    # A node not heard from for this long is marked Unknown and its pods NotReady, which
                    # kwok never undoes (its pod-ready stage matches only pods without a podIP; a kubelet
                    # would report them Ready again). A kube-apiserver restart stops every heartbeat: on
                    # a loaded machine it outlasted the default 50 s, and pods stayed NotReady for good.
                    # So: longer than a restart may take (start_limit), plus a minute to resync.
                    "--node-monitor-grace-period",
                    f"{self._start_limit + 60:.0f}s",
                    *self.options.controller_manager_args,
                ],
            )
            started.append((proc, f"https://127.0.0.1:{port}/healthz"))
        if self.options.nodes:
            port = free_port()
            proc = self._spawn("kube-scheduler", [binaries["kube-scheduler"], *self._component_flags(port)])
            started.append((proc, f"https://127.0.0.1:{port}/healthz"))
            port = free_port()
            proc = self._spawn(
                "kwok",
                [
                    binaries["kwok"],
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-annotation-selector",
                    f"{FAKE_NODE_ANNOTATION}=fake",
                    "--server-address",
                    f"127.0.0.1:{port}",
                    # Heartbeats by Lease (renewed every 10 s): without it kwok patches node status every
                    # 20-45 s, which on a loaded machine passed kube-controller-manager's default grace,
                    # and the node lifecycle controller marks every pod NotReady for good.
                    "--node-lease-duration-seconds",
                    "40",
                ],
            )
            started.append((proc, f"http://127.0.0.1:{port}/healthz"))
        return started

    def _create_nodes(self, count: int) -> None:
        for i in range(count):
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"kwok-node-{i}",
                    "annotations": {FAKE_NODE_ANNOTATION: "fake"},
                    "labels": {"type": "kwok", "kubernetes.io/hostname": f"kwok-node-{i}"},
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                },
            }
            self.kubectl("apply", "-f", "-", input=json.dumps(node))
        self._wait_nodes_ready(count)

    def _wait_nodes_ready(self, count: int) -> None:
        """Wait for ``count`` Ready nodes while kwok makes progress (its log grows, or another node's
        Ready changes) as a starting component is waited for (``start_timeout``, ``start_limit``)."""
        kwok = next(p for p in self._processes if p.name == "kwok")
        progress = Progress(self.options.start_timeout, self._start_limit)
        while True:
            ready = self.kubectl(
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}",
            ).stdout.split()
            if ready.count("True") >= count:
                return
            for proc in self._processes:
                proc.check_running()
            if problem := progress.stalled((kwok.log_size(), ready), "its log and the nodes' Ready"):
                raise ComponentError(
                    "kwok",
                    f"{ready.count('True')} of {count} nodes Ready: {problem}",
                    str(kwok.log_path),
                    details=f"its last log lines:\n{kwok.tail()}",
                )
            time.sleep(0.2)

    # -- faults --------------------------------------------------------------------------------------

    def restart(
        self, component: str, *, kill: bool = False, down_for: float = 0.0, within: float | None = None
    ) -> None:
        """Stop ``component`` (``"etcd"``, ``"kube-apiserver"``, ...) with SIGTERM, or SIGKILL when
        ``kill``; keep it down ``down_for`` s; start it again with the same flags, port and data; return
        once it is healthy again. Clients see their connections drop and their watches end.

        A start that crashes is started again, as the kubelet restarts a crashed static pod (a loaded
        kube-apiserver exits when its Service IP and port repair does not finish within a minute of
        starting); one not healthy ``within`` s (default ``start_limit``) after the restart began, or
        showing no progress for ``start_timeout`` s, raises ``ComponentError`` with the last lines of
        its log, and is left stopped."""
        proc = next((p for p in self._processes if p.name == component), None)
        if proc is None:
            raise ComponentError(component, "not running in this control plane")
        deadline = time.monotonic() + (within if within is not None else self._start_limit)
        if kill:
            proc.kill()
        else:
            proc.stop(grace=30.0)
        time.sleep(down_for)
        self._start_again(proc, deadline)

    def ensure_running(self, component: str, *, within: float | None = None) -> bool:
        """Start ``component`` again if it has exited (see ``restart``); whether it had to be."""
        proc = next((p for p in self._processes if p.name == component), None)
        if proc is None:
            raise ComponentError(component, "not running in this control plane")
        if not proc.exited:
            return False
        self._start_again(proc, time.monotonic() + (within or self._start_limit))
        return True

    def _start_again(self, proc: ManagedProcess, deadline: float) -> None:
        """Start ``proc`` until it is healthy, a crash followed by another start, until ``deadline``."""
        starts = 0
        while True:
            proc.start()
            starts += 1
            try:
                self._wait_healthy(proc, max(1.0, deadline - time.monotonic()))
                return
            except ComponentError as exc:
                if not proc.exited or time.monotonic() >= deadline:
                    details = proc.tail()
                    proc.stop()
                    raise ComponentError(
                        proc.name,
                        f"not healthy again after {starts} start(s): {exc.problem}",
                        str(proc.log_path),
                        details=f"its last log lines:\n{details}",
                    ) from exc
            time.sleep(min(2.0**starts, max(0.0, deadline - time.monotonic())))  # the kubelet's backoff

    def restart_apiserver(
        self, *, kill: bool = False, down_for: float = 0.0, within: float | None = None
    ) -> None:
        """Restart kube-apiserver (see ``restart``); its watch cache starts empty and relists from etcd."""
        self.restart("kube-apiserver", kill=kill, down_for=down_for, within=within)

    def restart_etcd(self, *, kill: bool = False, down_for: float = 0.0, within: float | None = None) -> None:
        """Restart etcd on its data (see ``restart``); kube-apiserver answers 5xx until it is back."""
        self.restart("etcd", kill=kill, down_for=down_for, within=within)

    def etcd_revision(self) -> int:
        """etcd's current revision (the newest resourceVersion of the cluster)."""
        found = self._etcd("/v3/kv/range", {"key": _b64(b"\0"), "limit": 1})
        return int(found["header"]["revision"])

    def compact_etcd(self, revision: int | None = None) -> int:
        """Compact etcd's history up to ``revision`` (default: the current one); returns it.

        A watch that starts or resumes from an older resourceVersion is then answered ``410 Gone``
        ("too old resource version") wherever kube-apiserver reads from etcd, and an informer relists.
        kube-apiserver's watch cache keeps a window of recent history in memory and serves watches from
        it: turn it off for the resources under test, ``apiserver_args=("--watch-cache-sizes=
        widgets.example.com#0",)``, to have their resumed watches reach etcd (``--watch-cache=false``
        turns it off for everything). kube-apiserver itself compacts every 5 minutes.
        """
        target = revision if revision is not None else self.etcd_revision()
        self._etcd("/v3/kv/compaction", {"revision": str(target), "physical": True})
        return target

    def _etcd(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A call to etcd's v3 JSON gateway on its loopback client URL."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.etcd_port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                found: dict[str, Any] = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise ComponentError(
                "etcd", f"{path}: {exc.code} {exc.read().decode(errors='replace')[:200]}"
            ) from exc
        except OSError as exc:
            raise ComponentError("etcd", f"{path}: {exc}") from exc
        return found

    # -- access --------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting the CA and presenting the admin client certificate."""
        ctx = ssl.create_default_context(cafile=str(self.directory / "ca.crt"))
        ctx.load_cert_chain(str(self.directory / "admin.crt"), str(self.directory / "admin.key"))
        return ctx

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for ``user`` (in ``groups``) with a client certificate from the control plane's CA.

        The user has no permissions until RBAC grants them: for testing what an identity may do.
        """
        if self._ca is None:
            raise RuntimeError("control plane not started")
        pair = self._ca.client(user, groups)
        path = self.directory / f"user-{user}.kubeconfig"
        self._write_kubeconfig(path, self._ca.cert_pem, pair.cert_pem, pair.key_pem, user=user)
        return path

    def service_account_kubeconfig(self, namespace: str, name: str, *, duration: str = "24h") -> Path:
        """A kubeconfig authenticating as ServiceAccount ``namespace/name`` with a bearer token from the
        TokenRequest API (as a pod's would), creating the ServiceAccount if it does not exist.

        The account has no permissions until RBAC grants them: the identity an operator runs as in a cluster.
        """
        if self._ca is None:
            raise RuntimeError("control plane not started")
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
        self.kubectl("apply", "-f", "-", input=json.dumps(account))
        token = self.kubectl(
            "create", "token", name, "-n", namespace, f"--duration={duration}"
        ).stdout.strip()
        path = self.directory / f"sa-{namespace}-{name}.kubeconfig"
        self._write_kubeconfig(path, self._ca.cert_pem, user=f"{namespace}-{name}", token=token)
        return path

    def _write_kubeconfig(
        self,
        path: Path,
        ca: bytes,
        cert: bytes | None = None,
        key: bytes | None = None,
        user: str = "kubeloop-admin",
        token: str | None = None,
    ) -> None:
        credentials = (
            {"token": token}
            if token is not None
            else {"client-certificate-data": _b64(cert or b""), "client-key-data": _b64(key or b"")}
        )
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kubeloop",
                    "cluster": {"server": self.server, "certificate-authority-data": _b64(ca)},
                }
            ],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": "kubeloop", "context": {"cluster": "kubeloop", "user": user}}],
            "current-context": "kubeloop",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the machine's kubectl against this control plane (blocking; for tests and set-up)."""
        return Kubectl(self.kubeconfig)(*args, input=input, check=check)


def _insecure_context() -> ssl.SSLContext:
    """Health probes of secondary components, which serve self-signed certificates."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
