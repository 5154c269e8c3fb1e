"""Custom resources, CRDs, server-side apply and kubectl as the real kube-apiserver answers them,
compared in the same test: an update of a custom resource without resourceVersion, list items keyed by
all their keys (ports by port and protocol), CRDs whose names clash, CEL rules that do not compile, and
``kubectl apply`` of a kind no server serves."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from apiserver_twin import Answer, Twin

from kubeloop.apiserver import EmbeddedServer
from kubeloop.testing import ControlPlane, Kubectl

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def crd(group: str, plural: str, kind: str, **extra: Any) -> dict[str, Any]:
    spec_schema: dict[str, Any] = extra.pop("spec_schema", None) or {
        "type": "object",
        "properties": {"size": {"type": "integer"}},
    }
    if "rules" in extra:
        spec_schema["x-kubernetes-validations"] = extra.pop("rules")
    names = {"plural": plural, "singular": plural[:-1], "kind": kind, **extra}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": names,
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec_schema}}},
                }
            ],
        },
    }


@pytest.fixture
async def group(twin: Twin, tns: str) -> Any:
    """An API group of this test's own on both servers; its CRDs are deleted afterwards."""
    name = f"{tns}.fidelity.example.com"
    yield name
    for server in (twin.real, twin.embedded):
        listed = await server.call("GET", CRDS)
        for item in listed.body["items"]:
            if item["spec"]["group"] == name:
                await server.call("DELETE", f"{CRDS}/{item['metadata']['name']}")


async def conditions(twin: Twin, name: str) -> list[list[tuple[str, str, str, str]]]:
    """Each server's CRD conditions (type, status, reason, message) once they are settled (the real
    server decides them in controllers, after the create returned)."""
    deadline = time.monotonic() + 30
    while True:
        answers = await twin.call("GET", f"{CRDS}/{name}")
        found = [
            [
                (c["type"], c["status"], c["reason"], c["message"])
                for c in (a.body.get("status") or {}).get("conditions") or []
            ]
            for a in answers
        ]
        decided = all(any(c[0] == "NamesAccepted" for c in f) for f in found)
        # The real server says Established=False/Installing for a moment before True.
        settled = all(any(c[0] == "Established" and c[2] != "Installing" for c in f) for f in found)
        if decided and settled:
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.2)


async def test_a_custom_resource_update_without_resource_version_is_invalid(
    twin: Twin, tns: str, group: str
) -> None:
    await twin.call("POST", CRDS, crd(group, "knobs", "Knob"))
    await conditions(twin, f"knobs.{group}")
    path = f"/apis/{group}/v1/namespaces/{tns}/knobs"
    body = {"apiVersion": f"{group}/v1", "kind": "Knob", "metadata": {"name": "k"}, "spec": {"size": 1}}
    deadline = time.monotonic() + 30
    while [a.status for a in await twin.call("POST", path, body)] != [201, 201]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    await twin.same_refusal("PUT", f"{path}/k", dict(body, spec={"size": 2}))
    await twin.same_status("PUT", f"{path}/missing", dict(body, metadata={"name": "missing"}))
    # Found by the differential run: a delete's precondition names the group-qualified kind, and a
    # custom resource deleted at once is answered with a Status, not the object.
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}}
    refused = await twin.call("DELETE", f"{path}/k", options)
    assert [(a.status, a.body["message"].split(":")[0], a.body["details"]) for a in refused] == [
        (
            409,
            f'Operation cannot be fulfilled on Knob.{group} "k"',
            {"name": "k", "group": group, "kind": "Knob"},
        )
    ] * 2
    deleted = await twin.call("DELETE", f"{path}/k")
    assert [(a.status, a.body["kind"], a.body["details"]["kind"]) for a in deleted] == [
        (200, "Status", "knobs")
    ] * 2


async def test_crds_whose_names_clash_are_not_accepted_nor_served(twin: Twin, tns: str, group: str) -> None:
    await twin.call("POST", CRDS, crd(group, "widgets", "Widget", shortNames=["wd"]))
    first = await conditions(twin, f"widgets.{group}")
    assert first[1] == first[0]
    for clash in (crd(group, "gadgets", "Widget"), crd(group, "things", "Thing", shortNames=["wd"])):
        real, embedded = await twin.call("POST", CRDS, clash)
        assert embedded.status == real.status == 201
        verdicts = await conditions(twin, clash["metadata"]["name"])
        assert verdicts[1] == verdicts[0]
        assert ("NamesAccepted", "False") in [c[:2] for c in verdicts[0]]
        plural = clash["spec"]["names"]["plural"]
        listed = await twin.call("GET", f"/apis/{group}/v1/namespaces/{tns}/{plural}")
        assert [a.status for a in listed] == [404, 404]
    gone = await twin.call("DELETE", f"{CRDS}/widgets.{group}")
    assert [a.status for a in gone] == [200, 200]


@pytest.mark.parametrize(
    "rule", ["self.size +", "self.size > (1"], ids=["dangling-operator", "unclosed-paren"]
)
async def test_a_cel_rule_that_does_not_compile_refuses_the_crd(twin: Twin, group: str, rule: str) -> None:
    body = crd(group, "rules", "Rule", rules=[{"rule": rule, "message": "size"}])
    answer = await twin.same_refusal("POST", CRDS, body)
    assert answer.status == 422


STRINGS = {"type": "array", "items": {"type": "string"}}
SHORT = {"type": "string", "maxLength": 20}


def strings(items: int, length: int) -> dict[str, Any]:
    return {"type": "array", "maxItems": items, "items": {"type": "string", "maxLength": length}}


def ruled(properties: dict[str, Any], *rules: dict[str, str]) -> dict[str, Any]:
    """An object schema with ``properties`` and ``rules``."""
    return {"type": "object", "properties": properties, "x-kubernetes-validations": list(rules)}


# Rules the real server refuses when the CRD is created, for their types or their estimated cost: the
# causes (field, reason, message with cel-go's positions, the cost factor) must be the same.
REFUSED = {
    "undefined-field": ruled({"size": {"type": "integer"}}, {"rule": "self.nosuch > 1"}),
    "int-equals-string": ruled({"replicas": {"type": "integer"}}, {"rule": "self.replicas == 'x'"}),
    "string-above-int": ruled({"name": {"type": "string"}}, {"rule": "self.name > 3"}),
    "not-a-bool": ruled({"size": {"type": "integer"}}, {"rule": "self.size + 1"}),
    "string-as-range": ruled(
        {"items": {"type": "array", "items": STRINGS}},
        {"rule": "self.items.all(a, a.all(b, b.all(c, c != 'x')))"},
    ),
    "undeclared-names": ruled({"size": {"type": "integer"}}, {"rule": "cel.bind(v, self.size, v > 1)"}),
    "message-not-a-string": ruled(
        {"s": {"type": "string"}}, {"rule": "has(self.s)", "messageExpression": "1"}
    ),
    "quadratic-over-unbounded-list": ruled(
        {"items": STRINGS}, {"rule": "self.items.all(a, self.items.all(b, a.size() < b.size()))"}
    ),
    "map-over-unbounded-list": ruled(
        {"items": {"type": "array", "items": ruled({"name": {"type": "string", "maxLength": 63}})}},
        {"rule": "self.items.map(i, i.name).all(n, n.size() > 1)"},
    ),
    # The Kubernetes libraries' types: a wrong argument, a function v1.33 does not offer new rules
    # (semver comes with compatibility version 1.33, math and reverse are not in its environment).
    "quantity-compared-to-a-string": ruled({"q": SHORT}, {"rule": "quantity(self.q).isLessThan('1Gi')"}),
    "sign-is-no-member": ruled({"q": SHORT}, {"rule": "quantity(self.q).sign() >= 0"}),
    "lower-ascii-of-an-int": ruled({"n": {"type": "integer"}}, {"rule": "self.n.lowerAscii() == 'a'"}),
    "sets-of-two-types": ruled({"q": SHORT}, {"rule": "sets.contains([1], ['a'])"}),
    "semver-not-offered": ruled({"q": SHORT}, {"rule": "isSemver(self.q)"}),
    "math-not-offered": ruled({"n": {"type": "integer"}}, {"rule": "math.greatest([self.n, 2]) == 2"}),
    "reverse-not-offered": ruled({"q": SHORT}, {"rule": "self.q.reverse() == 'a'"}),
    # format() checked after the type check: a clause's argument type, arguments left over or missing.
    "format-decimal-of-a-string": ruled({"q": SHORT}, {"rule": "'%d'.format([self.q]) != ''"}),
    "format-too-many-arguments": ruled({"q": SHORT}, {"rule": "'%s'.format([self.q, self.q]) != ''"}),
    "format-too-few-arguments": ruled({"q": SHORT}, {"rule": "'%s %s'.format([self.q]) != ''"}),
    "format-unknown-clause": ruled({"q": SHORT}, {"rule": "'%z'.format([self.q]) != ''"}),
    # ... and their costs, as the libraries' estimators give them (factors below 1.5 are shown to
    # the millionth).
    "lower-ascii-over-a-list": ruled(
        {"l": strings(300, 100_000)}, {"rule": "self.l.all(s, s.lowerAscii() != 'x')"}
    ),
    "find-all-over-a-list": ruled(
        {"l": strings(300, 100_000)}, {"rule": "self.l.all(s, s.findAll('[a-z]+').size() < 5)"}
    ),
    "replace-over-a-list": ruled(
        {"l": strings(1500, 10_000)}, {"rule": "self.l.all(s, s.replace('a', 'bb').size() < 10)"}
    ),
    "sets-of-two-lists": ruled(
        {"a": strings(4000, 10), "b": strings(3000, 10)}, {"rule": "sets.intersects(self.a, self.b)"}
    ),
    "index-of-over-unbounded-list": ruled({"l": STRINGS}, {"rule": "self.l.indexOf('x') >= 0"}),
    "join-of-a-split": ruled({"q": SHORT}, {"rule": "self.q.split(',').join('-') == ''"}),
    "rule-under-unbounded-list": ruled(
        {
            "arr": {
                "type": "array",
                "items": ruled({"name": {"type": "string"}}, {"rule": "self.name.contains('x')"}),
            }
        }
    ),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
async def test_a_cel_rule_that_does_not_type_check_or_costs_too_much_refuses_the_crd(
    twin: Twin, group: str, case: str
) -> None:
    answer = await twin.same_refusal("POST", CRDS, crd(group, "rules", "Rule", spec_schema=REFUSED[case]))
    assert answer.status == 422


async def test_cel_rules_the_real_server_compiles_are_accepted(twin: Twin, group: str) -> None:
    """Optional fields, type names, mixed numbers, bounded comprehensions, library functions."""
    schema = {
        "type": "object",
        "properties": {
            "x": {"type": "integer"},
            "d": {"type": "number"},
            "q": {"type": "string", "maxLength": 10},
            "names": {"type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 10}},
        },
        "x-kubernetes-validations": [
            {"rule": rule}
            for rule in (
                "self.?x.orValue(1) == 1",
                "type(self.x) == int",
                "self.x < self.d",
                "self.names.all(a, self.names.exists(b, a == b))",
                "quantity(self.q).isInteger()",
                "self.names.exists_one(n, n.matches('^a'))",
                "url(self.q).getHost() == 'a' && cidr(self.q).containsIP(ip(self.q))",
                "!format.dns1123Label().validate(self.q).hasValue() && self.names.isSorted()",
                "self.q.lowerAscii().split(',').size() < 3 && sets.contains(self.names, ['a'])",
            )
        ],
    }
    real, embedded = await twin.call("POST", CRDS, crd(group, "rules", "Rule", spec_schema=schema))
    assert (embedded.status, real.status) == (201, 201), (embedded.body, real.body)


async def test_ports_applied_server_side_are_keyed_by_port_and_protocol(twin: Twin, tns: str) -> None:
    path = f"/api/v1/namespaces/{tns}/services/dual?fieldManager=test"
    applied = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "dual"},
        "spec": {"ports": [{"name": "tcp", "port": 53}, {"name": "udp", "port": 53, "protocol": "UDP"}]},
    }
    real, embedded = await twin.call("PATCH", path, applied, "application/apply-patch+yaml")
    assert embedded.status == real.status == 201

    def ports(answer: Answer) -> tuple[Any, Any]:
        entry = next(e for e in answer.body["metadata"]["managedFields"] if e["manager"] == "test")
        return answer.body["spec"]["ports"], sorted(entry["fieldsV1"]["f:spec"]["f:ports"])

    shown = [ports(a) for a in (real, embedded)]
    assert [[(p["port"], p["protocol"]) for p in s[0]] for s in shown] == [[(53, "TCP"), (53, "UDP")]] * 2
    assert shown[1][1] == shown[0][1]


def test_kubectl_apply_of_an_unknown_kind_says_no_matches_for_kind(
    control_plane: ControlPlane, embedded_server: EmbeddedServer, tmp_path: Path
) -> None:
    manifest = tmp_path / "foo.yaml"
    manifest.write_text("apiVersion: nowhere.example.com/v1\nkind: Foo\nmetadata:\n  name: x\n")
    errors = []
    for kubeconfig in (Path(control_plane.kubeconfig), embedded_server.kubeconfig):
        result = Kubectl(kubeconfig)("apply", "-f", str(manifest), check=False)
        errors.append((result.returncode, result.stderr.strip()))
    assert errors[1] == errors[0]
    assert 'no matches for kind "Foo" in version "nowhere.example.com/v1"' in errors[0][1]


def dials(group: str, **spec_extra: Any) -> dict[str, Any]:
    """A CRD with a status subresource: ``spec.size`` and ``spec.note``, ``status.ready`` (>= 0),
    ``spec.slots`` a map-list by name; ``spec_extra`` laid over the spec schema (rules, bounds)."""
    spec: dict[str, Any] = {
        "type": "object",
        "properties": {
            "size": {"type": "integer"},
            "note": {"type": "string"},
            "slots": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "width": {"type": "integer"}},
                },
            },
        },
    }
    for key, value in spec_extra.items():
        if key == "size":
            spec["properties"]["size"].update(value)
        elif key == "slot_rules":
            spec["properties"]["slots"]["items"]["x-kubernetes-validations"] = value
        else:
            spec[key] = value
    body = crd(group, "dials", "Dial", spec_schema=spec)
    version = body["spec"]["versions"][0]
    version["subresources"] = {"status": {}}
    version["schema"]["openAPIV3Schema"]["properties"]["status"] = {
        "type": "object",
        "properties": {"ready": {"type": "integer", "minimum": 0}},
    }
    return body


async def replace_crd(twin: Twin, body: dict[str, Any]) -> None:
    """Replace the CRD named in ``body`` on both servers (each with its own resourceVersion)."""
    path = f"{CRDS}/{body['metadata']['name']}"
    for server in (twin.real, twin.embedded):
        current = await server.call("GET", path)
        new = dict(
            body, metadata=dict(body["metadata"], resourceVersion=current.body["metadata"]["resourceVersion"])
        )
        answer = await server.call("PUT", path, new)
        assert answer.status == 200, answer.body


async def until_refused(twin: Twin, path: str, body: dict[str, Any]) -> None:
    """Wait until both servers refuse a dry-run create of ``body`` (the real server takes a CRD's new
    schema into use after the update returned)."""
    deadline = time.monotonic() + 30
    while [a.status for a in await twin.call("POST", f"{path}?dryRun=All", body)] != [422, 422]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)


async def created(twin: Twin, path: str, body: dict[str, Any]) -> list[Answer]:
    """Create ``body`` on both, each server retried until it answers 201 (the real server serves a new
    CRD a moment after the create returned; a server that created it already is not asked again)."""
    deadline = time.monotonic() + 30
    answers: dict[int, Answer] = {}
    while True:
        for n, server in enumerate((twin.real, twin.embedded)):
            if n not in answers or answers[n].status != 201:
                answers[n] = await server.call("POST", path, body)
        if [a.status for a in answers.values()] == [201, 201]:
            return [answers[0], answers[1]]
        assert time.monotonic() < deadline, [(a.status, a.body.get("message")) for a in answers.values()]
        await asyncio.sleep(0.2)


def same_answers(answers: tuple[Answer, Answer]) -> tuple[int, Any, list[str]]:
    """The status code, the Status (or the object's spec and status) and the warnings, equal on both."""

    def shown(answer: Answer) -> tuple[int, Any, list[str]]:
        body = answer.body
        if body.get("kind") == "Status":
            return answer.status, answer.status_fields(), answer.warnings
        return answer.status, (body.get("spec"), body.get("status")), answer.warnings

    real, embedded = (shown(a) for a in answers)
    assert embedded == real, f"embedded answered\n{embedded}\nthe real server\n{real}"
    return real


async def test_a_status_write_validates_only_what_it_may_change(twin: Twin, tns: str, group: str) -> None:
    """A Dial stored before its CRD gained rules it breaks: its status writes are accepted (a status
    write validates the status, and the CEL rules with ratcheting: an unchanged spec's failure is a
    warning), its spec updates that change the failing field are refused; an update leaving that field
    as it was is refused only by the rule on the changed node (v1.33 ratchets unchanged values)."""
    await twin.call("POST", CRDS, dials(group))
    path = f"/apis/{group}/v1/namespaces/{tns}/dials"
    dial = {
        "apiVersion": f"{group}/v1",
        "kind": "Dial",
        "metadata": {"name": "d"},
        "spec": {"size": 10, "note": "a"},
    }
    await created(twin, path, dial)
    rule = {"rule": "self.size <= 5", "message": "size at most 5"}
    await replace_crd(twin, dials(group, size={"maximum": 5}, **{"x-kubernetes-validations": [rule]}))
    await until_refused(twin, path, dict(dial, metadata={"name": "probe"}))

    async def write(method: str, sub: str, change: dict[str, Any]) -> tuple[int, Any, list[str]]:
        answers = []
        for server in (twin.real, twin.embedded):
            current = (await server.call("GET", f"{path}/d")).body
            answers.append(await server.call(method, f"{path}/d{sub}", {**current, **change}))
        return same_answers((answers[0], answers[1]))

    status, shown, warnings = await write("PUT", "/status", {"status": {"ready": 1}})
    assert (status, shown[1], len(warnings)) == (200, {"ready": 1}, 1), (status, shown, warnings)
    status, shown, _ = await write("PUT", "/status", {"status": {"ready": -1}})
    assert (status, [c["field"] for c in shown["details"]["causes"]]) == (422, ["status.ready"])
    status, shown, _ = await write("PUT", "", {"spec": {"size": 9, "note": "a"}})
    assert (status, len(shown["details"]["causes"])) == (422, 2)
    status, shown, _ = await write("PUT", "", {"spec": {"size": 10, "note": "b"}})
    assert (status, [c["message"] for c in shown["details"]["causes"]]) == (
        422,
        ['Invalid value: "object": size at most 5'],
    )


async def test_a_root_rule_refuses_a_status_write_and_map_list_items_have_an_old_self(
    twin: Twin, tns: str, group: str
) -> None:
    """A rule at the object's root runs on a status write too (the root changed: not ratcheted); a
    transition rule of a map-list's item compares it with the old item of the same key."""
    await twin.call("POST", CRDS, dials(group))
    path = f"/apis/{group}/v1/namespaces/{tns}/dials"
    slots = [{"name": "a", "width": 2}, {"name": "b", "width": 3}]
    dial = {
        "apiVersion": f"{group}/v1",
        "kind": "Dial",
        "metadata": {"name": "d"},
        "spec": {"size": 10, "slots": slots},
    }
    await created(twin, path, dial)
    body = dials(group, slot_rules=[{"rule": "self.width >= oldSelf.width", "message": "no narrowing"}])
    body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"] = [
        {"rule": "self.spec.size <= 5", "message": "size at most 5"}
    ]
    await replace_crd(twin, body)
    await until_refused(twin, path, dict(dial, metadata={"name": "probe"}))
    for sub, change in (
        ("/status", {"status": {"ready": 1}}),
        ("", {"spec": {"size": 4, "slots": [slots[1], {"name": "a", "width": 1}]}}),
    ):
        answers = []
        for server in (twin.real, twin.embedded):
            current = (await server.call("GET", f"{path}/d")).body
            answers.append(await server.call("PUT", f"{path}/d{sub}", {**current, **change}))
        status, shown, _ = same_answers((answers[0], answers[1]))
        assert status == 422, shown


def libraries(group: str) -> dict[str, Any]:
    """A CRD whose rules call the Kubernetes CEL libraries (quantity, URL, IP and CIDR, lists, regex,
    format) and cel-go's strings and sets extensions, each rule named by its message."""

    def text(limit: int) -> dict[str, Any]:
        return {"type": "string", "maxLength": limit}

    schema = ruled(
        {
            "q": text(20),
            "u": text(100),
            "addr": text(45),
            "net": text(50),
            "nums": {"type": "array", "maxItems": 10, "items": {"type": "integer"}},
            "names": {"type": "array", "maxItems": 10, "items": text(20)},
            "text": text(40),
            "limits": {"type": "object", "additionalProperties": {"type": "integer"}},
            "price": {"type": "number"},
            "fmt": text(10),
        },
        {"rule": "!has(self.q) || quantity(self.q).isLessThan(quantity('2Gi'))", "message": "quantity"},
        {
            "rule": "!has(self.q) || sign(quantity(self.q)) >= 0",
            "messageExpression": "'negative: ' + self.q.upperAscii()",
        },
        {
            "rule": "!has(self.u) || isURL(self.u) && url(self.u).getScheme() == 'https' && "
            "url(self.u).getPort() in ['', '443']",
            "message": "url",
        },
        {"rule": "!has(self.u) || url(self.u).getHostname() != 'localhost'", "message": "host"},
        {
            "rule": "!has(self.net) || !has(self.addr) || cidr(self.net).containsIP(self.addr)",
            "message": "cidr",
        },
        {"rule": "!has(self.addr) || ip(self.addr).family() == 4", "message": "family"},
        {"rule": "!has(self.addr) || string(ip(self.addr)) == self.addr", "message": "canonical"},
        {"rule": "!has(self.nums) || self.nums.isSorted() && self.nums.sum() <= 100", "message": "nums"},
        {
            "rule": "!has(self.nums) || self.nums.size() == 0 || "
            "self.nums.max() - self.nums.min() < 50 && self.nums.indexOf(13) == -1",
            "message": "range",
        },
        {
            "rule": "!has(self.names) || sets.contains(['a', 'b', 'root'], self.names) && "
            "self.names.lastIndexOf('root') <= 0",
            "message": "names",
        },
        {
            "rule": "!has(self.text) || self.text.lowerAscii().split(',').all(w, w.trim() != '' && "
            "w.trim().charAt(0) != '-')",
            "message": "text",
        },
        {
            "rule": "!has(self.text) || self.text.findAll('[0-9]+').size() < 3 && "
            "!format.dns1123Label().validate(self.text.substring(0, 1).lowerAscii()).hasValue()",
            "message": "digits",
        },
        # cel-go's format(): Go's renderings (en_US grouping in %f), and its errors.
        {
            "rule": "!has(self.price) || self.price < 1000.0",
            "messageExpression": "'price %.2f is %e or %s, nums %s'.format([self.price, self.price, "
            "self.price, self.nums])",
        },
        {"rule": "!has(self.fmt) || '%d'.format([dyn(self.fmt)]) != ''", "message": "fmt"},
        # Errors of the standard library, in cel-go's words.
        {"rule": "!has(self.limits) || self.limits['cpu'] > 0", "message": "cpu"},
        {"rule": "!has(self.nums) || self.nums.size() == 0 || 100 / self.nums[0] > 1", "message": "ratio"},
    )
    return crd(group, "libs", "Lib", spec_schema=schema)


VALID_LIB = {
    "q": "1Gi",
    "u": "https://example.com:443/x?y=1",
    "addr": "10.1.2.3",
    "net": "10.0.0.0/8",
    "nums": [1, 5, 9],
    "limits": {"cpu": 2},
    "names": ["root", "a"],
    "text": "Ab, cd",
}
# Objects the rules above refuse (or fail to run on: a quantity or URL that does not parse, a
# substring out of range), each with its change to VALID_LIB.
LIB_REFUSED = {
    "quantity-too-big": {"q": "3Gi"},
    "quantity-negative": {"q": "-1m"},
    "quantity-not-parsed": {"q": "1Zi"},
    "url-http": {"u": "http://example.com"},
    "url-not-parsed": {"u": "foo"},
    "url-localhost": {"u": "https://localhost:8443"},
    "ip-outside": {"addr": "192.168.0.1"},
    "ip-too-short": {"addr": "10.1.2"},
    "ip-not-canonical": {"addr": "2001:DB8::1"},
    "ip-leading-zero": {"addr": "10.01.2.3"},
    "cidr-too-long": {"net": "10.0.0.0/33"},
    "cidr-bad-address": {"net": "10.0.x.0/8"},
    "nums-unsorted": {"nums": [5, 1]},
    "nums-range": {"nums": [1, 60]},
    "names-unknown": {"names": ["a", "c"]},
    "names-root-last": {"names": ["a", "root"]},
    "text-empty-word": {"text": "a,,b"},
    "text-empty": {"text": ""},
    "text-digits": {"text": "1,2,3"},
    "no-such-key": {"limits": {"mem": 1}},
    "division-by-zero": {"nums": [0, 1]},
    "format-price": {"price": 1234.5},
    "format-error": {"fmt": "x"},
}


async def test_rules_calling_the_kubernetes_libraries_run_as_on_the_real_server(
    twin: Twin, tns: str, group: str
) -> None:
    """The same objects accepted, refused with the same causes, or failing to run a rule with the
    same message (cel-go's error, `evaluating rule: <message>`)."""
    made = await twin.call("POST", CRDS, libraries(group))
    assert [a.status for a in made] == [201, 201], [str(a.body.get("message")) for a in made]
    path = f"/apis/{group}/v1/namespaces/{tns}/libs"
    lib = {"apiVersion": f"{group}/v1", "kind": "Lib", "metadata": {"name": "ok"}, "spec": VALID_LIB}
    await created(twin, path, lib)
    await created(twin, path, dict(lib, metadata={"name": "bare"}, spec={"nums": []}))
    for name, change in LIB_REFUSED.items():
        body = dict(lib, metadata={"name": name}, spec={**VALID_LIB, **change})
        answer = await twin.same_refusal("POST", path, body)
        assert answer.status == 422, (name, answer.body)


async def test_cel_rules_do_not_run_on_null_values(twin: Twin, tns: str, group: str) -> None:
    """A rule on a nullable field is not evaluated while the field is null (nor the rules below it): the
    real validator validates non-null values only; the same rules refuse non-null values that break them."""
    spec_schema = {
        "type": "object",
        "properties": {
            "note": {
                "type": "string",
                "nullable": True,
                "x-kubernetes-validations": [{"rule": "self.size() > 2", "message": "note too short"}],
            },
            "limits": {
                "type": "object",
                "nullable": True,
                "x-kubernetes-validations": [{"rule": "self.max > 0", "message": "max not positive"}],
                "properties": {
                    "max": {
                        "type": "integer",
                        "nullable": True,
                        "x-kubernetes-validations": [{"rule": "self < 100", "message": "max too big"}],
                    }
                },
            },
        },
    }
    await twin.call("POST", CRDS, crd(group, "notes", "Note", spec_schema=spec_schema))
    path = f"/apis/{group}/v1/namespaces/{tns}/notes"

    def note(name: str, **spec: Any) -> dict[str, Any]:
        return {"apiVersion": f"{group}/v1", "kind": "Note", "metadata": {"name": name}, "spec": spec}

    # Before: the embedded server ran the rules on the nulls and refused the object (422).
    answers = await created(twin, path, note("nulls", note=None, limits=None))
    assert [a.body["spec"] for a in answers] == [{"note": None, "limits": None}] * 2
    await created(twin, path, note("inner", note="abc", limits={"max": 5}))
    for spec, message in (
        ({"note": "a"}, 'Invalid value: "string": note too short'),
        ({"limits": {"max": 100}}, 'Invalid value: "integer": max too big'),
    ):
        refused = await twin.same_refusal("POST", path, note("set", **spec))
        assert [c["message"] for c in refused.body["details"]["causes"]] == [message]


async def test_a_custom_kind_named_deployment_has_the_custom_resources_strategy(
    twin: Twin, tns: str, group: str
) -> None:
    """A custom resource of kind Deployment (in its own group) is no apps Deployment: a change of its
    annotations moves no generation, and a ``/status`` write keeps its stored annotations (the apps
    Deployment's strategy does both the other way). Before: the verbs asked for the kind's name, so
    the embedded server gave it generation 2 and the status write's annotations."""
    body = crd(group, "deployments", "Deployment")
    version = body["spec"]["versions"][0]
    version["subresources"] = {"status": {}}
    version["schema"]["openAPIV3Schema"]["properties"]["status"] = {
        "type": "object",
        "properties": {"ready": {"type": "integer"}},
    }
    await twin.call("POST", CRDS, body)
    await conditions(twin, f"deployments.{group}")
    path = f"/apis/{group}/v1/namespaces/{tns}/deployments"
    obj = {
        "apiVersion": f"{group}/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "annotations": {"a": "1"}},
        "spec": {"size": 1},
    }
    await created(twin, path, obj)
    merge = "application/merge-patch+json"
    patched = await twin.call("PATCH", f"{path}/d", {"metadata": {"annotations": {"a": "2"}}}, merge)
    assert [
        (a.status, a.body["metadata"].get("generation"), a.body["metadata"]["annotations"]) for a in patched
    ] == [(200, 1, {"a": "2"})] * 2
    status = {"metadata": {"annotations": {"a": "3"}}, "status": {"ready": 1}}
    written = await twin.call("PATCH", f"{path}/d/status", status, merge)
    assert [(a.status, a.body["metadata"]["annotations"], a.body.get("status")) for a in written] == [
        (200, {"a": "2"}, {"ready": 1})
    ] * 2


async def test_a_pattern_s_dollar_is_the_end_of_the_text_as_in_go(twin: Twin, tns: str, group: str) -> None:
    """Schemas' patterns and CEL's regex library are Go's: ``$`` matches at the end of the text only.
    Before, the embedded server read them with Python's ``re``, whose ``$`` also matches before a final
    newline: it accepted ``"abc\\n"`` for ``^[a-z]+$`` and found ``abc`` in it for ``[a-z]+$`` (found by
    the CRD property test on the embedded server: ``"a\\n"`` against a DNS label pattern)."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$"},
            "tag": {"type": "string", "x-kubernetes-validations": [
                {"rule": "self.find('[a-z]+$') != ''", "message": "tag ends in a letter"},
            ]},
        },
    }  # fmt: skip
    await twin.call("POST", CRDS, crd(group, "labels", "Label", spec_schema=schema))
    await conditions(twin, f"labels.{group}")
    path = f"/apis/{group}/v1/namespaces/{tns}/labels"

    def label(name: str, spec: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": f"{group}/v1", "kind": "Label", "metadata": {"name": name}, "spec": spec}

    await created(twin, path, label("fine", {"name": "abc", "tag": "abc"}))
    for name, spec, field in (
        ("name", {"name": "abc\n"}, "spec.name"),
        ("tag", {"tag": "abc\n"}, "spec.tag"),
    ):
        refused = await twin.call("POST", path, label(name, spec))
        assert [(a.status, [c["field"] for c in a.body["details"]["causes"]]) for a in refused] == [
            (422, [field])
        ] * 2, [a.body.get("message") for a in refused]
