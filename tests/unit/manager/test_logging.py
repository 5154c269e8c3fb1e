"""Every log line made during a reconcile carries the key of the object being reconciled."""

from __future__ import annotations

import io
import json
import logging

import pytest

from kubeloop.controller import Request, current_request
from kubeloop.manager import KeyFilter, configure_logging


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_records_inside_a_reconcile_carry_the_key(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("INFO", fmt)  # type: ignore[arg-type]
    log = logging.getLogger("user.code")
    log.info("outside")
    token = current_request.set(Request("shop", "cart"))
    try:
        log.info("inside")
    finally:
        current_request.reset(token)
    outside, inside = stream.getvalue().splitlines()
    if fmt == "json":
        assert "key" not in json.loads(outside)
        assert json.loads(inside)["key"] == "shop/cart"
        assert json.loads(inside)["msg"] == "inside"
    else:
        assert "key=" not in outside
        assert inside.endswith("inside key=shop/cart")
    logging.getLogger().handlers.clear()


def test_key_filter_keeps_an_explicit_key() -> None:
    record = logging.makeLogRecord({"msg": "x", "key": "given"})
    token = current_request.set(Request("a", "b"))
    try:
        assert KeyFilter().filter(record)
    finally:
        current_request.reset(token)
    assert record.key == "given"  # type: ignore[attr-defined]
