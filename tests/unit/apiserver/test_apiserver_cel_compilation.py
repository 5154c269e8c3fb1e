"""CEL rules compiled with a CRD (``kubeloop.apiserver.cel.compilation``; compared with the real server
in tests/conformance/apiserver/test_apiserver_fidelity.py): what our checker cannot walk is let
through unchecked, never a server error."""

from __future__ import annotations

import logging

import pytest

from kubeloop.apiserver.cel import checker, compilation


def schema(rule: str) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "x-kubernetes-validations": [{"rule": rule}],
    }


def test_a_chain_of_a_thousand_conditions_is_accepted_as_cel_go_balances_it() -> None:
    # cel-go balances && and || chains into a shallow tree; ours is as deep as the chain.
    assert compilation.rule_causes(schema(" && ".join(["self.a == 1"] * 1000)), "spec") == []


def test_a_short_chain_is_still_checked() -> None:
    causes = compilation.rule_causes(schema(" && ".join(["self.b == 1"] * 3)), "spec")
    assert len(causes) == 1
    assert "undefined field 'b'" in causes[0].message


def test_a_fault_of_the_checker_leaves_the_rule_unchecked_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("a node the checker does not know")

    monkeypatch.setattr(checker, "check", broken)
    with caplog.at_level(logging.WARNING, logger=compilation.__name__):
        assert compilation.rule_causes(schema("self.b == 1"), "spec") == []
    assert "CEL rule left unchecked" in caplog.text
    assert "self.b == 1" in caplog.text
