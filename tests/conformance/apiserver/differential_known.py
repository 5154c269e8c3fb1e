"""The differences between the embedded server and the real kube-apiserver that the differential run
tolerates, each with its reason; docs/apiserver.md lists them by name under "Known differences"
(tests/conformance/apiserver/test_apiserver_differential.py checks that it does)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from differential_compare import MISSING, Difference, Step, differences

CONTROLLERS = "Controllers' own writes"


@dataclass(frozen=True)
class Known:
    name: str
    reason: str
    applies: Callable[[Step, Difference], bool]
    explains: Callable[[Step, list[Difference]], bool] = lambda step, diffs: False
    """Whether it explains a whole answer's differences at once (one server refused what the other
    accepted, for a reason of its own)."""


def _in_managed_fields(diff: Difference) -> bool:
    return "managedFields" in diff.path


_ALLOCATED = ("f:clusterIP", "f:clusterIPs", "f:ipFamilies", "f:ipFamilyPolicy", "f:nodePort")
_GO_TYPE = re.compile(r"of type [\w.\[\]]+$")
_UNDECODABLE = re.compile(r"illegal base64 data at input byte \d+$")
_STATUS_PARTS = {("status",), ("body", "code"), ("body", "reason"), ("body", "message")}


def _field_sets(step: Step, diff: Difference) -> bool:
    if not _in_managed_fields(diff):
        return False
    if diff.real is MISSING:  # a leaf the embedded server attributes and the real one does not
        return True
    return diff.embedded is MISSING and diff.path[-1] == "."


def _decoding_details(step: Step, diff: Difference) -> bool:
    if diff.path[-2:] == ("metadata", "creationTimestamp") and "template" in diff.path:
        return diff.real is None and diff.embedded is MISSING
    if diff.path == ("body", "metadata", "generation"):  # a zero value kept is a change of the spec
        return (
            isinstance(diff.real, int) and diff.embedded == diff.real + 1 and _contains_zero_value(step.body)
        )
    return diff.real is MISSING and diff.embedded in (0, "") and not _in_managed_fields(diff)


def _typed_apply(step: Step, diff: Difference) -> bool:
    """An apply whose body has a value of the wrong type (or bad base64): a 500 from building or
    converting the typed patch on the real server; the decoder's 400 (the schema's 422 for a custom
    resource) on the embedded one, as an update gets."""
    if step.category != "apply":
        return False
    if diff.path == ("body", "message"):
        if _UNDECODABLE.search(str(diff.embedded)) and str(diff.real).startswith("Apply failed with"):
            return True  # the real server's conflicts come first (this case was unreachable before)
        return str(diff.real).startswith(
            ("failed to create typed patch object", "failed to convert new object")
        )
    if diff.path == ("body", "details"):
        return diff.real is MISSING or (diff.embedded is MISSING and "FieldManagerConflict" in str(diff.real))
    return diff.path in _STATUS_PARTS and (diff.real, diff.embedded) in (
        (500, 400),
        (500, 422),
        (MISSING, "BadRequest"),
        (MISSING, "Invalid"),
        (409, 400),
        ("Conflict", "BadRequest"),
        (500, 409),  # a custom resource's value of the wrong type where the apply also conflicts
        (MISSING, "Conflict"),
    )


def _quoted_patch_result(step: Step, diff: Difference) -> bool:
    """The 422 of a patch whose result does not decode quotes the patched object (or a strategic
    merge patch, as a Go map): Go's rendering there, sorted JSON on the embedded server; what follows
    the quote must be the same."""
    if diff.path[-1] != "message" or not isinstance(diff.real, str) or not isinstance(diff.embedded, str):
        return False
    marker = 'Invalid value: "'
    if f"{marker}{{" not in diff.embedded:
        return False
    if f"{marker}map[" in diff.real:  # a strategic merge patch: Go's unstructured converter's wording too
        return (
            step.category == "patch-strategic"
            and diff.real.split(marker)[0] == diff.embedded.split(marker)[0]
        )
    # What follows the quote: the same reason, but for a named string type's name (Go type names).
    tails = [_GO_TYPE.sub("", text.rsplit('": ', 1)[-1]) for text in (diff.real, diff.embedded)]
    return f"{marker}{{" in diff.real and tails[0] == tails[1]


def _controller_timing(step: Step, diff: Difference) -> bool:
    """A Deployment's controllers write it on their own time on each server: a watch's events, and a
    write conditional on the resourceVersion just read (an update, a delete's precondition)."""
    if step.kind != "Deployment":
        return False
    if step.category == "watch":
        return diff.path == ("body",)  # the events differ in number
    answer = diff.path in _STATUS_PARTS or diff.path[:2] == ("body", "details")
    if step.category == "delete":
        version = (step.body or {}).get("version") if isinstance(step.body, dict) else None
        return version == "current" and (answer or diff.path[:2] in (("body", "metadata"), ("body", "spec")))
    return step.category == "update" and answer


def _controller_race(step: Step, diffs: list[Difference]) -> bool:
    """An update or delete conditional on the Deployment's resourceVersion just read met a controller's
    write (409 Conflict) on one server only: the two answers differ whole."""
    version = step.body.get("version") if isinstance(step.body, dict) else None
    statuses = next(((d.real, d.embedded) for d in diffs if d.path == ("status",)), None)
    if step.kind == "Deployment" and step.category == "status" and statuses is not None:
        # A status write checked against the counts the controller wrote (after a scale) on one
        # server only: 'cannot be greater than status.replicas' there, accepted on the other.
        message = next((d for d in diffs if d.path == ("body", "message")), None)
        refusal = message is not None and any(
            isinstance(m, str) and "cannot be greater than status.replicas" in m
            for m in (message.real, message.embedded)
        )
        return refusal and 422 in statuses and any(isinstance(c, int) and c < 300 for c in statuses)
    return (
        step.kind == "Deployment"
        and step.category in ("update", "delete")
        and version == "current"
        and statuses is not None
        and 409 in statuses
        and all(isinstance(code, int) and (code == 409 or code < 300) for code in statuses)
    )


def _without_status_writes(entries: object) -> object:
    """managedFields without the status subresource's entries and '.' marks (a field set's own)."""

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "."}
        return value

    if not isinstance(entries, list):
        return entries
    return [strip(e) for e in entries if not (isinstance(e, dict) and e.get("subresource") == "status")]


def _controller_status_ownership(step: Step, diff: Difference) -> bool:
    """A Deployment's status written by the sequence and then by its controller: on the real server
    the controller takes the status fields over (the sequence's status entry goes), on its own time."""
    return (
        step.kind == "Deployment"
        and diff.path == ("body", "metadata", "managedFields")
        and _without_status_writes(diff.real) == _without_status_writes(diff.embedded)
    )


def _contains_zero_value(value: object) -> bool:
    if isinstance(value, dict):
        return any(_contains_zero_value(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_zero_value(v) for v in value)
    return value == "" or (isinstance(value, int) and not isinstance(value, bool) and value == 0)


def _status_rules(step: Step, diff: Difference) -> bool:
    """A status the real server's status validation refuses: a Deployment's negative counts, a
    Service's load-balancer ingress IP that is not an address."""
    status = ((step.body or {}).get("status") if isinstance(step.body, dict) else None) or {}
    if step.category != "status":
        return False
    if step.kind == "Deployment":
        return bool(status.get("replicas", 0) < 0)
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    return step.kind == "Service" and any(i.get("ip") == "bogus" for i in ingress)


def _repeated_causes(step: Step, diff: Difference) -> bool:
    """The real server repeats an invalid label's or annotation's cause on some updates."""
    if diff.path == ("body", "details", "causes") and isinstance(diff.real, list):
        return list(dict.fromkeys(map(str, diff.real))) == list(map(str, diff.embedded or []))
    if diff.path == ("body", "message") and isinstance(diff.real, str) and isinstance(diff.embedded, str):
        return set(diff.real.strip("]").split(", ")) == set(diff.embedded.strip("]").split(", "))
    return False


def _conflict_causes(step: Step, diff: Difference) -> bool:
    """An apply's conflicts with several managers: the real server lists the causes in Go's map order."""
    return (
        step.category == "apply"
        and diff.path[:3] == ("body", "details", "causes")
        and diff.path[-1] in ("message", "field")
        and str(diff.real).startswith(("conflict with", "."))
    )


def _bad_scale(step: Step, diff: Difference) -> bool:
    """A Scale body whose replicas are not a number."""
    body = step.body if isinstance(step.body, dict) else {}
    return step.category == "scale" and not isinstance((body.get("spec") or {}).get("replicas", 0), int)


_IP_RACE = "Internal error occurred: failed to allocate a serviceIP: provided IP is already allocated"


def _ip_allocation_race(step: Step, diffs: list[Difference]) -> bool:
    """The real server's random cluster-IP pick met an IP already allocated (a 500 in place of the
    create's answer)."""
    message = next((d.real for d in diffs if d.path == ("body", "message")), None)
    return step.kind == "Service" and message == _IP_RACE


KNOWN: list[Known] = [
    Known(
        "Field sets of updates",
        "an Update's managedFields entry on the real server also names each struct the update created "
        "behind a Go pointer ('.' entries, from structured-merge-diff's comparison with the Go zero "
        "value of the kind: a rollingUpdate, a securityContext); the embedded server names the maps "
        "an update creates (the OpenAPI schema says which fields are maps, not which structs are "
        "pointers) and records every leaf the request's object holds",
        _field_sets,
    ),
    Known(
        "Decoding details",
        "Go writes `creationTimestamp: null` into a pod template's metadata and drops a zero value of an "
        "`omitempty` field (`minReadySeconds: 0` applied, a Scale's `replicas: 0`); the embedded "
        "server keeps what was sent, so a write that only adds such a zero value changes the spec "
        "there (its generation grows by one) and not on the real server",
        _decoding_details,
    ),
    Known(
        "Times of managedFields entries",
        "the real server leaves `time` out of an Apply entry whose apply changed nothing it owned, and "
        "sorts such an entry first (the comparator orders entries by operation and manager); the "
        "embedded server stamps every entry it writes",
        lambda step, diff: _in_managed_fields(diff) and diff.path[-1] == "time" and diff.real is MISSING,
    ),
    Known(
        "Go renderings of values",
        "the 422 for a patch whose result does not decode quotes the patched object as Go serialises "
        "it; the embedded server quotes it as sorted JSON (the reason after the quote is the same, but "
        "for a strategic merge patch, which the real server quotes as a Go map and refuses in the "
        "words of Go's unstructured converter)",
        _quoted_patch_result,
    ),
    Known(
        "Go type names",
        "a decoding error names the Go type of the field; for named string types (SecretType, "
        "Protocol, ServiceType…) the real server says the name, the embedded server `string` (the "
        "OpenAPI document it reads does not carry Go's type names)",
        lambda step, diff: (
            diff.path == ("body", "message")
            and isinstance(diff.real, str)
            and isinstance(diff.embedded, str)
            and _GO_TYPE.sub("", diff.real) == _GO_TYPE.sub("", diff.embedded)
        ),
    ),
    Known(
        "Apply of a value of the wrong type",
        "the real server refuses it while building or converting the typed patch, with a 500 quoting "
        "Go's renderings, and a value Go cannot convert (bad base64) only after the apply's conflicts; "
        "the embedded server answers the 400 (decoding) or 422 (a custom resource's schema) an update "
        "gets, before looking for conflicts, but a custom resource's schema only after them (the real "
        "500 comes before the conflicts; the embedded server's 409 before its 422)",
        _typed_apply,
    ),
    Known(
        "Validation coverage",
        "the embedded server does not validate built-in kinds' status (the real server refuses a "
        "Deployment's negative counts, a Service's ingress IP that is not an address); see the list "
        "of rules it does run",
        _status_rules,
    ),
    Known(
        CONTROLLERS,
        "each server's deployment controller writes a Deployment (status, revision annotation) on its "
        "own time: a watch may see a controller's event between two of the sequence's writes on one "
        "server only, and an update with the resourceVersion just read may meet a controller's write "
        "(409) on one server and the update's own check (422) on the other, or on one server only "
        "(409 there, accepted on the other); and the real controller takes over the status fields a "
        "sequence wrote through /status (that manager's entry goes from managedFields); a status "
        "written after a scale meets the counts the controller wrote (more ready replicas than the "
        "status's replicas: 422) on one server only",
        lambda step, diff: _controller_timing(step, diff) or _controller_status_ownership(step, diff),
        _controller_race,
    ),
    Known(
        "Order of conflict causes",
        "when an apply conflicts with several managers, the real server lists the causes in the order "
        "of a Go map's iteration (it varies between identical requests); the embedded server sorts them "
        "by manager, as both servers order the message",
        _conflict_causes,
    ),
    Known(
        "Repeated causes",
        "on some updates the real server reports an invalid label's or annotation's cause more than "
        "once (one, two or four times for the same request); the embedded server reports it once",
        _repeated_causes,
    ),
    Known(
        "Scale bodies of the wrong type",
        "the real server fails to decode a Scale whose replicas are not a number with a 400 naming Go's "
        "scheme (`no kind is registered for the type v1.Scale…`) before it looks the object up; the "
        "embedded server looks the object up first and refuses the value with a decoding error",
        _bad_scale,
    ),
    Known(
        "Cluster IP allocation races",
        "the real server picks a Service's cluster IP at random and allocates it before validating the "
        "Service, and now and then answers a create with a 500 (`failed to allocate a serviceIP: "
        "provided IP is already allocated`; the run's sequences create and delete Services at once); "
        "the embedded server allocates the lowest free IP in its writer and never meets one",
        lambda step, diff: False,
        _ip_allocation_race,
    ),
    Known(
        "Continue tokens of selective lists",
        "with a label or field selector and a limit, the real server pages over the objects before "
        "filtering them, so a page can end with a continue token and an empty page follow; the "
        "embedded server filters first and gives a token only when more matching objects remain",
        lambda step, diff: (
            step.category == "list"
            and diff.path == ("body", "metadata", "continue")
            and diff.real == "<continue>"
            and diff.embedded is MISSING
        ),
    ),
]


def _without_controller_events(events: Any) -> Any:
    """A Deployment watch's events without those only a controller's write made: once normalised
    (status and the revision annotation dropped), such a MODIFIED event repeats the object before it."""
    if not isinstance(events, list):
        return events
    out: list[Any] = []
    for event in events:
        repeat = out and isinstance(event, dict) and event.get("type") == "MODIFIED"
        if not (repeat and event.get("object") == out[-1].get("object")):
            out.append(event)
    return out


def tolerated_answers(step: Step, real: Any, embedded: Any, diffs: list[Difference]) -> list[str] | None:
    """``tolerated`` for two normalised answers and their ``diffs``; a watch of Deployments is judged
    again without the events only controllers made, as their writes fall between the sequence's at
    other places on each server (the event lists may then be as long and differ item by item)."""
    names = tolerated(step, diffs)
    if names is not None or (step.category, step.kind) != ("watch", "Deployment"):
        return names
    real, embedded = ({**a, "body": _without_controller_events(a["body"])} for a in (real, embedded))
    rest = differences(real, embedded)
    names = tolerated(step, rest) if rest else []
    return None if names is None else [CONTROLLERS, *names]


def tolerated(step: Step, diffs: list[Difference]) -> list[str] | None:
    """The known differences that explain every one of ``diffs``, or None when one is unexplained."""
    whole = [k.name for k in KNOWN if k.explains(step, diffs)]
    if whole:
        return whole
    names = []
    for diff in diffs:
        known = next((k for k in KNOWN if k.applies(step, diff)), None)
        if known is None:
            return None
        names.append(known.name)
    return names
