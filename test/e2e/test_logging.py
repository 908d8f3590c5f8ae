"""Logging: text or JSON lines on stderr; every failed RPC logged once with its method and error."""
import json

import grpc
import pytest

from conftest import pb


def test_failed_rpc_logged_once_in_text(crispd):
    with pytest.raises(grpc.RpcError):
        crispd.call("CheckpointContainer", pb().CheckpointContainerRequest())
    crispd.call("Version", pb().VersionRequest())
    lines = [l for l in crispd.log().splitlines() if "RPC failed" in l]
    assert len(lines) == 1
    assert " error " in lines[0]
    assert "method=/runtime.v1.RuntimeService/CheckpointContainer" in lines[0]
    assert "code=UNIMPLEMENTED" in lines[0]
    assert 'error="/runtime.v1.RuntimeService/CheckpointContainer is not implemented by crisp yet"' in lines[0]


def test_json_log_lines(crispd_factory):
    d = crispd_factory(config={"log_format": "json"})
    with pytest.raises(grpc.RpcError):
        d.call_raw("Version", b"\xff")
    assert d.stop() == 0
    records = [json.loads(l) for l in d.log().splitlines()]
    assert all({"time", "level", "msg"} <= set(r) for r in records)
    failed = [r for r in records if r["msg"] == "RPC failed"]
    assert len(failed) == 1
    assert failed[0]["level"] == "error"
    assert failed[0]["method"] == "/runtime.v1.RuntimeService/Version"
    assert failed[0]["code"] == "INVALID_ARGUMENT"
    assert failed[0]["error"] == "malformed runtime.v1.VersionRequest message"
    assert int(failed[0]["id"]) > 0
    assert any(r["msg"] == "stopped" for r in records)


def test_log_level_error_hides_info(crispd_factory):
    d = crispd_factory(args=["--log-level", "error"])
    d.call("Version", pb().VersionRequest())
    assert d.stop() == 0
    assert d.log() == ""
