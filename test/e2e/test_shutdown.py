"""Signals: SIGTERM/SIGINT drain in-flight calls and remove the socket; SIGHUP re-reads the log level."""
import json
import os
import signal
import time

import grpc
import pytest

from conftest import pb


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_lets_in_flight_calls_finish(crispd, sig):
    slow = crispd.call_future("Version", pb().VersionRequest(), metadata=[("crisp-test-sleep-ms", "1500")])
    time.sleep(0.3)  # let the call reach its handler
    crispd.send_signal(sig)
    assert slow.result().runtime_name == "crisp"
    assert crispd.proc.wait(20) == 0
    assert not os.path.exists(crispd.sock)
    assert "stopped" in crispd.log()


def test_stop_refuses_new_calls(crispd):
    slow = crispd.call_future("Version", pb().VersionRequest(), metadata=[("crisp-test-sleep-ms", "2000")])
    time.sleep(0.3)
    crispd.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(grpc.RpcError) as e:
        crispd.call("Version", pb().VersionRequest(), timeout=5)
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNIMPLEMENTED,
                              grpc.StatusCode.CANCELLED)
    assert slow.result().runtime_name == "crisp"
    assert crispd.proc.wait(20) == 0


def test_calls_past_the_shutdown_timeout_are_cancelled(crispd_factory):
    d = crispd_factory(config={"shutdown_timeout": 1})
    slow = d.call_future("Version", pb().VersionRequest(), timeout=60,
                         metadata=[("crisp-test-sleep-ms", "5000")])
    time.sleep(0.3)
    d.send_signal(signal.SIGTERM)
    with pytest.raises(grpc.RpcError) as e:
        slow.result()
    assert e.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert d.proc.wait(30) == 0
    assert "did not finish within 1 s" in d.log()
    assert not os.path.exists(d.sock)


def debug_lines(d):
    return [l for l in d.log().splitlines() if " debug " in l and "RPC done" in l]


def wait_debug_lines(d, n, timeout=10):
    """crispd logs "RPC done" after the answer is sent, so the client may read the log first."""
    deadline = time.monotonic() + timeout
    while len(debug_lines(d)) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(debug_lines(d))


def test_sighup_rereads_log_level(crispd):
    crispd.call("Version", pb().VersionRequest())
    assert debug_lines(crispd) == []
    crispd.write_config({"cni": {"conf_dir": crispd.cni_dir}, "log_level": "debug"})
    crispd.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "log level is now debug" not in crispd.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    crispd.call("Version", pb().VersionRequest())
    assert wait_debug_lines(crispd, 1) == 1
    # A broken file on SIGHUP keeps the running level and says why.
    crispd.write_config("{broken")
    crispd.send_signal(signal.SIGHUP)
    while "keeping log level debug" not in crispd.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "invalid JSON" in crispd.log()
    crispd.call("Version", pb().VersionRequest())
    assert wait_debug_lines(crispd, 2) == 2
