"""Churn with random kill -9: client threads run and remove pods and containers while crispd is killed
with SIGKILL at random moments and restarted. Afterwards every pod and container a client was told
exists (and did not remove) is listed exactly once, a container that was started and left alone still
runs, and once everything is removed through CRI nothing of crisp's is left."""
import random
import threading
import time

import grpc
import pytest

import imagelib as il
from conftest import pb
from crashlib import leftovers, remove_everything
from podlib import pod_config, run_pod

CLIENTS = 3
KILLS = 5
LIVE_PODS_PER_CLIENT = 2
WORKLOAD = ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
STATE = pb().ContainerState


@pytest.fixture(scope="module")
def image():
    r = il.Registry()
    il.build_busybox_image(r, "library/busybox", "churn", cmd=("/bin/sh",))
    yield "%s/library/busybox:churn" % r.host
    r.cleanup()


class Ledger:
    """What the clients were told: objects created (OK replies), removed (OK replies), and those a
    stop or remove was tried on (whatever its outcome)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pods, self.containers, self.started = set(), set(), set()
        self.removed, self.disturbed = set(), set()

    def add(self, kind, oid):
        with self.lock:
            getattr(self, kind).add(oid)


class Client(threading.Thread):
    def __init__(self, d, image, n, ledger, stop):
        super().__init__(daemon=True)
        self.d, self.image, self.n, self.ledger, self.stop_event = d, image, n, ledger, stop
        self.rnd = random.Random(n)
        self.live = []  # (pod id, [container ids]) this client made and has not torn down yet
        self.failed = None

    def call(self, method, req):
        return self.d.call(method, req, timeout=30)

    def make_pod(self, i):
        cfg = pod_config("churn-%d-%d" % (self.n, i), host_network=True)
        pod_id = run_pod(self.d, cfg, timeout=30)
        self.ledger.add("pods", pod_id)
        cids = []
        self.live.append((pod_id, cids))
        for k in range(self.rnd.randint(1, 2)):
            config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name="c%d" % k),
                                          image=pb().ImageSpec(image=self.image), command=WORKLOAD)
            cid = self.call("CreateContainer", pb().CreateContainerRequest(
                pod_sandbox_id=pod_id, config=config, sandbox_config=cfg)).container_id
            self.ledger.add("containers", cid)
            cids.append(cid)
            self.call("StartContainer", pb().StartContainerRequest(container_id=cid))
            self.ledger.add("started", cid)

    def tear_down(self):
        pod_id, cids = self.live[0]
        for cid in cids:
            self.ledger.add("disturbed", cid)
        self.ledger.add("disturbed", pod_id)
        for cid in cids:
            self.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0))
            self.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid))
            self.ledger.add("removed", cid)
        self.call("StopPodSandbox", pb().StopPodSandboxRequest(pod_sandbox_id=pod_id))
        self.call("RemovePodSandbox", pb().RemovePodSandboxRequest(pod_sandbox_id=pod_id))
        self.ledger.add("removed", pod_id)
        self.live.pop(0)

    def run(self):
        i = 0
        try:
            while not self.stop_event.is_set():
                try:
                    if len(self.live) >= LIVE_PODS_PER_CLIENT:
                        self.tear_down()
                    else:
                        i += 1
                        self.make_pod(i)
                except grpc.RpcError as e:
                    # crispd died under the call, or is restarting: the outcome is unknown.
                    if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                                        grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED,
                                        grpc.StatusCode.INTERNAL):
                        raise
                    time.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.failed = e


def kill_and_restart(d):
    d.proc.kill()
    d.proc.wait(30)
    d.start()


def test_churn_with_kill_9(crispd_factory, image):
    d = crispd_factory()
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    ledger, stop = Ledger(), threading.Event()
    clients = [Client(d, image, n, ledger, stop) for n in range(CLIENTS)]
    for c in clients:
        c.start()
    rnd = random.Random(12)
    try:
        for _ in range(KILLS):
            time.sleep(rnd.uniform(0.3, 1.5))
            kill_and_restart(d)
        time.sleep(1.0)
    finally:
        stop.set()
        for c in clients:
            c.join(60)
    assert [c.failed for c in clients] == [None] * CLIENTS
    assert all(not c.is_alive() for c in clients)
    assert len(ledger.containers) >= CLIENTS, "the clients made too little to prove anything"

    # One more crash with everything settled: what the clients were told survives it too.
    kill_and_restart(d)
    pods = [p.id for p in d.call("ListPodSandbox", pb().ListPodSandboxRequest()).items]
    containers = {c.id: c for c in d.call("ListContainers", pb().ListContainersRequest()).containers}
    for pod_id in ledger.pods - ledger.removed:
        assert pods.count(pod_id) == 1, "pod %s was created and not removed, but is not listed" % pod_id
    for cid in ledger.containers - ledger.removed:
        assert cid in containers, "container %s was created and not removed, but is not listed" % cid
    for cid in ledger.started - ledger.disturbed:
        assert containers[cid].state == STATE.Value("CONTAINER_RUNNING"), (cid, containers[cid])
    for cid in ledger.removed & ledger.containers:
        assert cid not in containers, "removed container %s is listed" % cid
    assert len(set(pods)) == len(pods)

    remove_everything(d)
    assert leftovers(d) == []
    assert d.stop() == 0, d.log()[-3000:]
