"""Authentication and RBAC on both servers: the embedded server answers as the real kube-apiserver
does — who a request is from (client certificate, service-account token, anonymous, impersonation),
what RBAC allows (roles, cluster roles, bindings, aggregation, resourceNames, subresources,
nonResourceURLs), the 403's message, the review APIs ``kubectl auth can-i``/``whoami`` use and the
TokenRequest API with the checks on the tokens it issues."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from admission_hooks import HookServer, allow, configured, hook
from apiserver_twin import Answer, Raw, Twin

from kubeloop.apiserver import EmbeddedServer
from kubeloop.testing import ControlPlane, Kubectl, temporary_namespace, until

RBAC = "/apis/rbac.authorization.k8s.io/v1"
AUTHZ = "/apis/authorization.k8s.io/v1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def role(
    kind: str, name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, **({"labels": labels} if labels else {})}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": md, "rules": rules}


def binding(
    kind: str, name: str, role_kind: str, role_name: str, subjects: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }


def user(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


async def created(twin: Twin, path: str, body: dict[str, Any]) -> None:
    for answer in await twin.call("POST", path, body):
        assert answer.status == 201, answer.body


async def same_code(twin: Twin, method: str, path: str, body: Any = None) -> int:
    real, embedded = await twin.call(method, path, body)
    assert embedded.status == real.status, (
        f"embedded {embedded.status} {embedded.body}\nreal {real.status} {real.body}"
    )
    return real.status


@pytest.fixture(scope="module")
def tns(control_plane: ControlPlane, embedded_server: EmbeddedServer) -> Iterator[str]:
    """One namespace of the same name on both servers for the module (its tests name their users,
    roles and objects apart): a namespace per test would cost more than the tests."""
    real, embedded = Kubectl(control_plane.kubeconfig), Kubectl(embedded_server.kubeconfig)
    with temporary_namespace(real, "rbac") as name:
        embedded("create", "namespace", name)
        try:
            yield name
        finally:
            embedded("delete", "namespace", name, "--wait=false", "--ignore-not-found")


@pytest.fixture
async def cluster_scoped(twin: Twin) -> AsyncIterator[list[str]]:
    """Paths of cluster-scoped objects a test made on both servers, deleted after it."""
    paths: list[str] = []
    yield paths
    for path in paths:
        await twin.call("DELETE", path)


async def test_a_user_without_permissions_gets_the_real_403_for_every_kind_of_request(
    twin: Twin, tns: str
) -> None:
    alice = twin.impersonating("alice", "devs")
    for method, path, body in [
        ("GET", f"/api/v1/namespaces/{tns}/pods", None),
        ("GET", f"/api/v1/namespaces/{tns}/pods?watch=true", None),
        ("GET", f"/api/v1/namespaces/{tns}/pods/web", None),
        ("GET", "/api/v1/nodes", None),
        ("GET", f"/api/v1/namespaces/{tns}/configmaps?fieldSelector=metadata.name%3Dsettings", None),
        ("DELETE", f"/api/v1/namespaces/{tns}/configmaps", None),
        ("PUT", f"/apis/apps/v1/namespaces/{tns}/deployments/web/scale", {"spec": {"replicas": 2}}),
        ("POST", f"/api/v1/namespaces/{tns}/configmaps", {"metadata": {"name": "x"}}),
        ("GET", f"/api/v1/namespaces/{tns}", None),
        ("GET", "/metrics", None),
        ("GET", "/logs/", None),
    ]:
        real = await alice.same_status(method, path, body)
        assert real.status == 403, (path, real.body)


async def test_anonymous_requests_see_only_public_information(
    control_plane: ControlPlane, embedded_server: EmbeddedServer, tmp_path: Path
) -> None:
    nobody = Twin(
        Raw(Path(control_plane.kubeconfig), tmp_path / "r", anonymous=True),
        Raw(embedded_server.kubeconfig, tmp_path / "e", anonymous=True),
    )
    for path in ("/api", "/api/v1/namespaces", "/apis/apps/v1/namespaces/default/deployments"):
        assert (await nobody.same_status("GET", path)).status == 403
    for path in ("/healthz", "/version"):
        assert await same_code(nobody, "GET", path) == 200


async def test_roles_and_bindings_allow_exactly_what_they_grant(
    twin: Twin, tns: str, cluster_scoped: list[str]
) -> None:
    who = unique("bob")
    rules = [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["settings"],
            "verbs": ["get", "update"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]},
        {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["get"]},
    ]
    await created(twin, f"{RBAC}/namespaces/{tns}/roles", role("Role", "reader", rules))
    await created(
        twin,
        f"{RBAC}/namespaces/{tns}/rolebindings",
        binding("RoleBinding", "reader", "Role", "reader", [user(who)]),
    )
    paths = (f"{RBAC}/clusterroles/{who}", f"{RBAC}/clusterrolebindings/{who}")
    cluster_scoped.extend(paths)
    await created(
        twin,
        f"{RBAC}/clusterroles",
        role("ClusterRole", who, [{"nonResourceURLs": ["/metrics", "/logs/*"], "verbs": ["get"]}]),
    )
    await created(
        twin,
        f"{RBAC}/clusterrolebindings",
        binding("ClusterRoleBinding", who, "ClusterRole", who, [user(who)]),
    )
    await created(twin, f"/api/v1/namespaces/{tns}/configmaps", {"metadata": {"name": "settings"}})
    await created(twin, f"/api/v1/namespaces/{tns}/configmaps", {"metadata": {"name": "other"}})
    bob = twin.impersonating(who)
    allowed = [
        ("GET", f"/api/v1/namespaces/{tns}/configmaps/settings"),
        ("GET", f"/api/v1/namespaces/{tns}/pods"),
        ("GET", f"/api/v1/namespaces/{tns}/pods?watch=true&timeoutSeconds=1"),
        ("GET", f"/apis/apps/v1/namespaces/{tns}/deployments/none/scale"),  # allowed, then 404
        ("GET", f"/apis/apps/v1/namespaces/{tns}/deployments/none/status"),  # */status
        ("GET", "/api/v1/nodes/none/status"),  # a ClusterRole's rule in a Role binds in the namespace only
    ]
    for method, path in allowed[:5]:
        assert await same_code(bob, method, path) in (200, 404), path
    denied = [
        ("GET", f"/api/v1/namespaces/{tns}/configmaps/other"),  # resourceNames
        ("GET", f"/api/v1/namespaces/{tns}/configmaps"),  # resourceNames never allow a list
        ("DELETE", f"/api/v1/namespaces/{tns}/configmaps/settings"),  # verb
        ("GET", f"/apis/apps/v1/namespaces/{tns}/deployments/none"),  # the subresource only
        ("GET", "/api/v1/namespaces/default/pods"),  # another namespace
        allowed[5],
    ]
    for method, path in denied:
        assert (await bob.same_status(method, path)).status == 403, path
    assert await same_code(bob, "GET", "/logs/kube.log") in (200, 404)
    assert (await bob.same_status("GET", "/logs")).status == 403


async def test_a_binding_to_a_missing_role_is_named_in_the_refusal(twin: Twin, tns: str) -> None:
    who = unique("carol")
    await created(
        twin,
        f"{RBAC}/namespaces/{tns}/rolebindings",
        binding("RoleBinding", "ghost", "Role", "ghost", [user(who)]),
    )
    real = await twin.impersonating(who).same_status("GET", f"/api/v1/namespaces/{tns}/secrets")
    assert 'role.rbac.authorization.k8s.io "ghost" not found' in real.body["message"]


def decision(answer: Answer) -> dict[str, Any]:
    """A review's status; of a reason naming a ClusterRoleBinding only that (the real server walks
    them in no fixed order, so it names any of several that allow)."""
    status = dict(answer.body["status"])
    if "ClusterRoleBinding" in status.get("reason", ""):
        status["reason"] = "RBAC: allowed by a ClusterRoleBinding"
    return status


async def test_access_reviews_answer_as_the_real_server(twin: Twin, tns: str) -> None:
    who = unique("dave")
    await created(
        twin,
        f"{RBAC}/namespaces/{tns}/rolebindings",
        binding("RoleBinding", "view", "ClusterRole", "view", [user(who)]),
    )
    dave = twin.impersonating(who, "devs")
    for attributes in [
        {"resourceAttributes": {"namespace": tns, "verb": "list", "resource": "pods"}},
        {"resourceAttributes": {"namespace": tns, "verb": "delete", "resource": "pods", "name": "web"}},
        {
            "resourceAttributes": {
                "namespace": tns,
                "verb": "get",
                "group": "apps",
                "resource": "deployments",
                "subresource": "scale",
            }
        },
        {"resourceAttributes": {"verb": "list", "resource": "nodes"}},
        {"nonResourceAttributes": {"path": "/version", "verb": "get"}},
        {"nonResourceAttributes": {"path": "/metrics", "verb": "get"}},
    ]:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": attributes,
        }
        real, embedded = await dave.call("POST", f"{AUTHZ}/selfsubjectaccessreviews", review)
        assert (embedded.status, decision(embedded)) == (real.status, decision(real)), attributes
        subject = {**attributes, "user": who, "groups": ["devs"]}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": subject}
        real, embedded = await twin.call("POST", f"{AUTHZ}/subjectaccessreviews", body)
        assert (embedded.status, decision(embedded)) == (real.status, decision(real)), subject
    # the admin's answer comes from system:masters, with no reason
    review = {"spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}}
    real, embedded = await twin.call("POST", f"{AUTHZ}/selfsubjectaccessreviews", review)
    assert embedded.body["status"] == real.body["status"] == {"allowed": True}


def _rules(answer: Answer) -> tuple[list[Any], list[Any], bool]:
    status = answer.body["status"]
    key = repr
    return (
        sorted(status.get("resourceRules") or [], key=key),
        sorted(status.get("nonResourceRules") or [], key=key),
        status["incomplete"],
    )


async def test_the_rules_review_lists_what_kubectl_auth_can_i_list_shows(twin: Twin, tns: str) -> None:
    who = unique("erin")
    rules = [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "deployments/scale"],
            "resourceNames": ["web"],
            "verbs": ["get", "patch"],
        }
    ]
    await created(twin, f"{RBAC}/namespaces/{tns}/roles", role("Role", "web", rules))
    await created(
        twin,
        f"{RBAC}/namespaces/{tns}/rolebindings",
        binding("RoleBinding", "web", "Role", "web", [user(who)]),
    )
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": tns},
    }
    real, embedded = await twin.impersonating(who).call("POST", f"{AUTHZ}/selfsubjectrulesreviews", body)
    assert embedded.status == real.status == 201
    assert _rules(embedded) == _rules(real)
    assert rules[0]["resources"] in [r.get("resources") for r in _rules(real)[0]]


async def test_impersonation_needs_the_impersonate_verb(
    twin: Twin, tns: str, cluster_scoped: list[str]
) -> None:
    who, target = unique("frank"), unique("grace")
    frank = twin.impersonating(who)
    whoami = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    # frank may not act as grace: the refusal names what he may not impersonate
    both = Twin(
        Raw(frank.real.kubeconfig, frank.real.tmp, headers={"Impersonate-User": target}),
        Raw(frank.embedded.kubeconfig, frank.embedded.tmp, headers={"Impersonate-User": target}),
    )
    assert (await both.same_status("GET", f"/api/v1/namespaces/{tns}/pods")).status == 403
    # the admin may: grace is authenticated, in the groups asked for
    real, embedded = await twin.impersonating(target, "devs").call(
        "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", whoami
    )
    assert (
        embedded.body["status"]["userInfo"]
        == real.body["status"]["userInfo"]
        == {
            "username": target,
            "groups": ["devs", "system:authenticated"],
        }
    )
    sa = twin.impersonating(f"system:serviceaccount:{tns}:builder")
    real, embedded = await sa.call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", whoami)
    assert embedded.body["status"]["userInfo"] == real.body["status"]["userInfo"]
    assert real.body["status"]["userInfo"]["groups"] == [
        "system:serviceaccounts",
        f"system:serviceaccounts:{tns}",
        "system:authenticated",
    ]


async def test_aggregated_cluster_roles_gain_the_rules_of_labelled_roles(
    twin: Twin, cluster_scoped: list[str]
) -> None:
    name = unique("widgets-view")
    cluster_scoped.append(f"{RBAC}/clusterroles/{name}")
    rule = {"apiGroups": ["example.com"], "resources": [name], "verbs": ["get", "list", "watch"]}
    labels = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
    await created(twin, f"{RBAC}/clusterroles", role("ClusterRole", name, [rule], labels))

    async def aggregated(server: Raw, present: bool) -> bool:
        rules = (await server.call("GET", f"{RBAC}/clusterroles/view")).body.get("rules") or []
        return (rule in rules) == present

    for server in (twin.real, twin.embedded):
        await until(lambda server=server: aggregated(server, True), within=30, what="view aggregated")
    real, embedded = await twin.call("GET", f"{RBAC}/clusterroles/view")
    assert embedded.body["rules"] == real.body["rules"]
    await twin.call("DELETE", f"{RBAC}/clusterroles/{name}")
    for server in (twin.real, twin.embedded):
        await until(lambda server=server: aggregated(server, False), within=30, what="rule gone from view")


def test_kubectl_auth_can_i_and_whoami(api: Path, kctl: Kubectl, ns: str) -> None:
    who = unique("heidi")
    kctl("create", "rolebinding", "edit", "--clusterrole=edit", f"--user={who}", "-n", ns)

    def can(*args: str, namespace: str = ns) -> str:
        return kctl("auth", "can-i", *args, f"--as={who}", "-n", namespace, check=False).stdout.strip()

    assert can("create", "deployments.apps") == "yes"
    assert can("update", "deployments.apps", "--subresource=scale") == "yes"
    assert can("create", "roles.rbac.authorization.k8s.io") == "no"
    assert can("list", "pods", namespace="default") == "no"
    listed = kctl("auth", "can-i", "--list", f"--as={who}", "-n", ns).stdout
    assert "deployments.apps" in listed
    assert "selfsubjectaccessreviews.authorization.k8s.io" in listed
    whoami = kctl.json("auth", "whoami", f"--as={who}", "--as-group=devs")
    assert whoami["status"]["userInfo"]["username"] == who


# -- identities: client certificates and service-account tokens ------------------------------------


@pytest.fixture
def both(control_plane: ControlPlane, embedded_server: EmbeddedServer) -> tuple[ControlPlane, EmbeddedServer]:
    return control_plane, embedded_server


async def test_a_client_certificate_names_the_user_and_groups(
    both: tuple[ControlPlane, EmbeddedServer], tmp_path: Path
) -> None:
    who = unique("ivan")
    configs = [server.user_kubeconfig(who, ("qa", "ops")) for server in both]
    ivan = Twin(Raw(configs[0], tmp_path / "r"), Raw(configs[1], tmp_path / "e"))
    whoami = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    real, embedded = await ivan.call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", whoami)
    mine, theirs = embedded.body["status"]["userInfo"], real.body["status"]["userInfo"]
    assert {k: v for k, v in mine.items() if k != "extra"} == {
        k: v for k, v in theirs.items() if k != "extra"
    }
    assert theirs["groups"] == ["qa", "ops", "system:authenticated"]
    assert mine["extra"].keys() == theirs["extra"].keys()
    assert (await ivan.same_status("GET", "/api/v1/nodes")).status == 403


async def test_token_requests_and_the_checks_on_their_tokens(
    both: tuple[ControlPlane, EmbeddedServer], twin: Twin, tns: str, tmp_path: Path
) -> None:
    base = f"/api/v1/namespaces/{tns}/serviceaccounts"
    for account in ("bot", "bound-bot"):
        await created(twin, base, {"metadata": {"name": account}})
    await created(twin, f"/api/v1/namespaces/{tns}/configmaps", {"metadata": {"name": "cm"}})
    await created(twin, f"/api/v1/namespaces/{tns}/secrets", {"metadata": {"name": "s"}})
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
    for spec in (
        {"expirationSeconds": 10},
        {"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1", "name": "cm"}},
    ):
        assert (await twin.same_status("POST", f"{base}/bot/token", {**request, "spec": spec})).status >= 400
    assert (await twin.same_status("POST", f"{base}/nobody/token", request)).status == 404

    async def tokens(spec: dict[str, Any], account: str = "bot") -> list[str]:
        answers = await twin.call("POST", f"{base}/{account}/token", {**request, "spec": spec})
        for answer in answers:
            assert answer.status == 201, answer.body
            assert answer.body["spec"]["audiences"] == spec.get(
                "audiences", ["https://kubernetes.default.svc"]
            )
        return [answer.body["status"]["token"] for answer in answers]

    def as_token(pair: list[str], name: str) -> Twin:
        raws = []
        for token, server, side in zip(pair, both, ("r", "e"), strict=True):
            path = tmp_path / f"{name}-{side}.kubeconfig"
            config = Kubectl(server.kubeconfig).json("config", "view", "--raw")
            config["users"][0]["user"] = {"token": token}
            path.write_text(json.dumps(config))
            raws.append(Raw(path, tmp_path / f"{name}-{side}"))
        return Twin(*raws)

    whoami = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    plain = as_token(await tokens({}), "plain")
    real, embedded = await plain.call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", whoami)
    mine, theirs = embedded.body["status"]["userInfo"], real.body["status"]["userInfo"]
    assert (mine["username"], mine["groups"]) == (theirs["username"], theirs["groups"])
    assert (await plain.same_status("GET", f"/api/v1/namespaces/{tns}/pods")).status == 403
    # another audience than the server's: not authenticated
    elsewhere = as_token(await tokens({"audiences": ["vault"]}), "vault")
    assert (await elsewhere.same_status("GET", f"/api/v1/namespaces/{tns}/pods")).status == 401
    # bound to a Secret: valid while the Secret lives
    bound = as_token(
        await tokens({"boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "s"}}, "bound-bot"),
        "bound",
    )
    assert (await bound.same_status("GET", f"/api/v1/namespaces/{tns}/pods")).status == 403

    async def refused(twin_: Twin) -> bool:
        real, embedded = await twin_.call("GET", f"/api/v1/namespaces/{tns}/pods")
        return real.status == embedded.status == 401

    # the Secret ``bound`` is bound to and the account of ``plain`` deleted: both refused (after a
    # few seconds on the real server, which caches a token's verdict)
    await twin.call("DELETE", f"/api/v1/namespaces/{tns}/secrets/s")
    await twin.call("DELETE", f"{base}/bot")
    await until(lambda: refused(bound), within=30, what="the bound Secret's token refused")
    await until(lambda: refused(plain), within=30, what="the deleted account's token refused")


async def test_an_apply_that_creates_needs_create_too(twin: Twin, tns: str) -> None:
    who = unique("judy")
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}]
    await created(twin, f"{RBAC}/namespaces/{tns}/roles", role("Role", "patcher", rules))
    subjects = [user(who)]
    await created(
        twin,
        f"{RBAC}/namespaces/{tns}/rolebindings",
        binding("RoleBinding", "patcher", "Role", "patcher", subjects),
    )
    await created(twin, f"/api/v1/namespaces/{tns}/configmaps", {"metadata": {"name": "old"}})
    judy = twin.impersonating(who)
    apply = "application/apply-patch+yaml"
    for name, code in (("new", 403), ("old", 200)):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}
        path = f"/api/v1/namespaces/{tns}/configmaps/{name}?fieldManager=judy"
        if code == 403:
            assert (await judy.same_refusal("PATCH", path, body, apply)).status == 403
        else:
            real, embedded = await judy.call("PATCH", path, body, apply)
            assert embedded.status == real.status == 200, (real.body, embedded.body)


async def test_admission_webhooks_see_the_requesting_user(twin: Twin, tns: str, tmp_path: Path) -> None:
    who = unique("kim")
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]
    await created(twin, f"{RBAC}/namespaces/{tns}/roles", role("Role", "maker", rules))
    subjects = [user(who)]
    await created(
        twin,
        f"{RBAC}/namespaces/{tns}/rolebindings",
        binding("RoleBinding", "maker", "Role", "maker", subjects),
    )
    async with HookServer(tmp_path) as hooks:
        hooks.handlers["/who"] = lambda request: allow()
        watcher = hook("who.kubeloop.test", hooks.client("/who"), tns)
        async with configured(twin, hooks, tns, "ValidatingWebhookConfiguration", [watcher]):
            body = {"metadata": {"name": "made"}}
            for answer in await twin.impersonating(who, "devs").call(
                "POST", f"/api/v1/namespaces/{tns}/configmaps", body
            ):
                assert answer.status == 201, answer.body
    seen = [
        {k: v for k, v in call["userInfo"].items() if k != "extra"}
        for call in hooks.calls["/who"]
        if call["name"] == "made"
    ]
    assert seen == [{"username": who, "groups": ["devs", "system:authenticated"]}] * 2
