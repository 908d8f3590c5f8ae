"""Signals: SIGTERM/SIGINT drain in-flight calls and remove the socket; SIGHUP re-reads the log level."""
import json
import os
import signal
import time

import grpc
import pytest

import imagelib as il
from conftest import pb
from podlib import pod_config, remove_pod, run_pod
from test_containers import create, start


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
    """The debug lines of Version calls: the test's first call is another method, since its own "RPC
    done" may be written after the level has changed."""
    return [l for l in d.log().splitlines() if " debug " in l and "RPC done" in l and l.rstrip().endswith("/Version")]


def wait_debug_lines(d, n, timeout=10):
    """crispd logs "RPC done" after the answer is sent, so the client may read the log first."""
    deadline = time.monotonic() + timeout
    while len(debug_lines(d)) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(debug_lines(d))


def test_sighup_rereads_log_level(crispd):
    crispd.call("ListPodSandbox", pb().ListPodSandboxRequest())
    assert debug_lines(crispd) == []
    crispd.write_config(dict(crispd.base_config, log_level="debug"))
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


def wait_for(cond, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def processes_running(argv):
    """Pids whose command line is exactly argv."""
    want = b"\0".join(a.encode() for a in argv) + b"\0"
    pids = []
    for p in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                if p.isdigit() and f.read() == want:
                    pids.append(int(p))
        except OSError:
            pass
    return pids


# What shutdown may take beyond shutdown_timeout: the cancelled calls' unwinding (crispd gives them 3 s)
# and the process's exit, with room for a loaded machine. The calls below would take 40 s or forever.
SHUTDOWN_BOUND_S = 10


@pytest.fixture(scope="module")
def sleeper_image():
    r = il.Registry()
    il.build_busybox_image(r, "library/shutdown", "v1", cmd=("sleep", "1000"))
    yield "%s/library/shutdown:v1" % r.host
    r.cleanup()


def test_shutdown_cancels_a_long_exec(crispd_factory, sleeper_image):
    """Issue 12 item 5: an ExecSync of sleep 40 holds crispd no longer than shutdown_timeout."""
    d = crispd_factory(config={"shutdown_timeout": 2})
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=sleeper_image)), timeout=120)
    cfg = pod_config("shutdown-exec", host_network=True)
    cfg.log_directory = os.path.join(d.dir, "logs")
    os.makedirs(cfg.log_directory, exist_ok=True)
    pod_id = run_pod(d, cfg)
    try:
        cid = create(d, pod_id, cfg, sleeper_image, command=["sleep", "1000"])
        start(d, cid)
        argv = ["sleep", "40.5"]
        execing = d.call_future("ExecSync", pb().ExecSyncRequest(container_id=cid, cmd=argv, timeout=60),
                                timeout=90)
        assert wait_for(lambda: processes_running(argv))
        d.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.RpcError):
            execing.result()
        assert d.proc.wait(2 + SHUTDOWN_BOUND_S) == 0
        assert "did not finish within 2 s" in d.log()
        # The exec's command went with it; the container itself outlives crispd.
        assert wait_for(lambda: not processes_running(argv), timeout=10)
        assert processes_running(["sleep", "1000"])
    finally:
        if d.proc.poll() is not None:
            d.channel = None
            d.start()
        remove_pod(d, pod_id)


def test_shutdown_cancels_a_stalled_pull(crispd_factory):
    """Issue 12 item 5: a pull from a registry that sends nothing holds crispd no longer than
    shutdown_timeout, and leaves no temporary file."""
    with il.Registry() as reg, il.TokenAuthProxy(reg, allow_anonymous=True) as proxy:
        il.build_image_from_layers(proxy, "test/stalled", "v1", [[il.random_file("r", 200000)]])
        proxy.blob_rate = 0
        d = crispd_factory(config={"shutdown_timeout": 2})
        pulling = d.call_future("PullImage", pb().PullImageRequest(
            image=pb().ImageSpec(image="%s/test/stalled:v1" % proxy.host)), timeout=120)
        assert wait_for(lambda: proxy.active_blobs == 1)
        d.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.RpcError):
            pulling.result()
        assert d.proc.wait(2 + SHUTDOWN_BOUND_S) == 0
        assert "did not finish within 2 s" in d.log()
        assert wait_for(lambda: proxy.active_blobs == 0)
        assert os.listdir(os.path.join(d.root, "tmp")) == []
