"""A blocked call never delays another: the test-only sleep hook holds calls while others run."""
import time

import grpc

from conftest import pb
from test_containers import busybox, pod, registry  # noqa: F401 (fixtures)

SLOW = [("crisp-test-sleep-ms", "4000")]


def test_blocked_calls_do_not_delay_others(crispd):
    # More sleepers than the pool's starting workers: the pool must grow to keep serving.
    slow = [crispd.call_future("Version", pb().VersionRequest(), metadata=SLOW) for _ in range(12)]
    for _ in range(50):
        assert crispd.call("Version", pb().VersionRequest(), timeout=10).runtime_name == "crisp"
        assert crispd.call("Status", pb().StatusRequest(), timeout=10).status.conditions
    # The quick calls all finished while every slow one was still being served.
    assert not any(f.done() for f in slow)
    for f in slow:
        assert f.result().runtime_name == "crisp"


def test_many_concurrent_clients(crispd):
    channels = [grpc.insecure_channel("unix://" + crispd.sock) for _ in range(8)]
    try:
        futures = []
        for ch in channels:
            stub = ch.unary_unary("/runtime.v1.RuntimeService/Version",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb().VersionResponse.FromString)
            futures += [stub.future(pb().VersionRequest(), timeout=30) for _ in range(100)]
        assert all(f.result().runtime_name == "crisp" for f in futures)
    finally:
        for ch in channels:
            ch.close()


def test_lists_answer_during_a_long_stop_and_exec(pod):
    """Issue 12 item 13: a stop in its grace period and a long ExecSync delay no list or status."""
    from test_containers import create, exec_sync, start, status, stop_future, wait_log
    d, pod_id, cfg, image = pod
    slow = create(d, pod_id, cfg, image, name="slow", log="slow.log",
                  command=["sh", "-c", "trap 'echo got-term' TERM; echo ready; while true; do sleep 0.1; done"])
    busy = create(d, pod_id, cfg, image, name="busy", log="busy.log", command=["sleep", "1000"])
    start(d, slow)
    start(d, busy)
    wait_log(d, cfg, "slow.log", "ready")
    execing = d.call_future("ExecSync", pb().ExecSyncRequest(
        container_id=busy, cmd=["sh", "-c", "touch /tmp/started; sleep 30"], timeout=60), timeout=90)
    stopping = stop_future(d, slow, 30)
    wait_log(d, cfg, "slow.log", "got-term")
    deadline = time.monotonic() + 30
    while exec_sync(d, busy, ["sh", "-c", "test -e /tmp/started && echo yes || echo no"]).stdout != b"yes\n":
        assert time.monotonic() < deadline, "the long exec did not start"
    for _ in range(20):
        assert len(d.call("ListContainers", pb().ListContainersRequest(), timeout=10).containers) == 2
        assert status(d, slow).state == status(d, busy).state == pb().CONTAINER_RUNNING
        assert [p.id for p in d.call("ListPodSandbox", pb().ListPodSandboxRequest(), timeout=10).items] == [pod_id]
        d.call("PodSandboxStatus", pb().PodSandboxStatusRequest(pod_sandbox_id=pod_id), timeout=10)
    assert not stopping.done() and not execing.done()
    # Removing the pod cuts the grace period short and ends the exec with its container.
    d.call("RemovePodSandbox", pb().RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=60)
    stopping.result()
    try:
        execing.result()
    except grpc.RpcError:
        pass
