"""cgroup v2 end to end, through the real socket: every LinuxContainerResources field and the unified map
as files in the container's cgroup after CreateContainer and UpdateContainerResources, pod resources with
their overhead, OOM kills seen through memory.events, cgroup.kill, the container's own cgroup namespace,
the eBPF device filter, and the workload born in its cgroup. The v2 tests run only where /sys/fs/cgroup
is a cgroup2 mount with controllers (the Debian 12 VM of `make vm-test`); on a v1 or hybrid host one test
checks that the unified map is refused."""
import json
import os
import time

import grpc
import pytest

import imagelib as il
from conftest import pb
from podlib import pod_config, remove_pod, run_pod

ROOT = "/sys/fs/cgroup"
MiB = 1 << 20


def _v2_controllers():
    try:
        with open(os.path.join(ROOT, "cgroup.controllers")) as f:
            return f.read().split()
    except OSError:
        return []


CONTROLLERS = _v2_controllers()
V2 = bool(CONTROLLERS)
v2_only = pytest.mark.skipif(not V2, reason="needs /sys/fs/cgroup as cgroup2 with controllers (the test VM)")
v1_only = pytest.mark.skipif(V2 or not os.path.isdir(os.path.join(ROOT, "memory")), reason="needs cgroup v1")


@pytest.fixture(scope="module")
def registry():
    r = il.Registry()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def image(registry):
    il.build_busybox_image(registry, "library/busybox", "cgv2")
    return "%s/library/busybox:cgv2" % registry.host


def new_pod(d, image, name="cgv2-pod", **kw):
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    cfg = pod_config(name, host_network=True, **kw)
    cfg.log_directory = os.path.join(d.dir, "logs")
    os.makedirs(cfg.log_directory, exist_ok=True)
    return run_pod(d, cfg), cfg


@pytest.fixture
def pod(crispd, image):
    pod_id, cfg = new_pod(crispd, image)
    yield crispd, pod_id, cfg, image
    remove_pod(crispd, pod_id)


def create(d, pod_id, cfg, image, command, resources=None, name="c", privileged=False):
    sec = pb().LinuxContainerSecurityContext(privileged=privileged)
    config = pb().ContainerConfig(
        metadata=pb().ContainerMetadata(name=name), image=pb().ImageSpec(image=image), command=command,
        log_path=name + ".log", linux=pb().LinuxContainerConfig(resources=resources, security_context=sec))
    req = pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=cfg)
    return d.call("CreateContainer", req, timeout=60).container_id


def start(d, cid):
    d.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)


def run(d, pod_id, cfg, image, command=("sleep", "1000"), resources=None, **kw):
    cid = create(d, pod_id, cfg, image, list(command), resources, **kw)
    start(d, cid)
    return cid


def info(d, cid):
    st = d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid, verbose=True))
    return json.loads(st.info["info"])


def cgfile(cg, name):
    """The contents of an interface file of cgroup path cg, stripped; None when it doesn't exist."""
    try:
        with open(ROOT + cg + "/" + name) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def workload(cg):
    """The pids in cg but crisp-hold, the systemd driver's placeholder that keeps a scope alive."""
    pids = []
    for pid in (cgfile(cg, "cgroup.procs") or "").split():
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() == "crisp-hold":
                    continue
        except FileNotFoundError:
            continue
        pids.append(pid)
    return pids


def exec_sync(d, cid, cmd, timeout=10):
    return d.call("ExecSync", pb().ExecSyncRequest(container_id=cid, cmd=cmd, timeout=timeout),
                  timeout=timeout + 30)


def wait_exited(d, cid, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid)).status
        if st.state == pb().CONTAINER_EXITED:
            return st
        time.sleep(0.05)
    raise AssertionError("container %s did not exit" % cid)


def shares_to_weight(shares):
    """runc's and crun's conversion of cpu.shares (2..262144) to cpu.weight (1..10000)."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def hugepage_size():
    """The smallest hugepage size of this kernel, as CRI names it ("2MB"), or None. From the kernel, not
    from a cgroup's files: those exist only where some parent enabled hugetlb, which is what is tested."""
    if "hugetlb" not in CONTROLLERS or not os.path.isdir("/sys/kernel/mm/hugepages"):
        return None
    kbs = sorted(int(n[len("hugepages-"):-len("kB")]) for n in os.listdir("/sys/kernel/mm/hugepages"))
    if not kbs:
        return None
    return "%dGB" % (kbs[0] >> 20) if kbs[0] >= 1 << 20 else "%dMB" % (kbs[0] >> 10)


def refused(call, code=grpc.StatusCode.INVALID_ARGUMENT):
    with pytest.raises(grpc.RpcError) as e:
        call()
    assert e.value.code() == code, e.value.details()
    return e.value.details()


@v2_only
def test_controllers_are_the_expected_ones():
    for c in ("cpu", "cpuset", "io", "memory", "pids"):
        assert c in CONTROLLERS


@v2_only
def test_create_writes_every_resource(pod):
    d, pod_id, cfg, image = pod
    res = pb().LinuxContainerResources(
        cpu_period=100000, cpu_quota=50000, cpu_shares=512, memory_limit_in_bytes=64 * MiB,
        memory_swap_limit_in_bytes=96 * MiB, cpuset_cpus="0", cpuset_mems="0",
        unified={"memory.high": str(48 * MiB), "pids.max": "77", "memory.oom.group": "1"})
    size = hugepage_size()
    if size:
        res.hugepage_limits.append(pb().HugepageLimit(page_size=size, limit=0))
    cid = run(d, pod_id, cfg, image, resources=res)
    cg = info(d, cid)["cgroupPath"]
    assert cgfile(cg, "cpu.weight") == str(shares_to_weight(512)) == "20"
    assert cgfile(cg, "cpu.max") == "50000 100000"
    assert cgfile(cg, "memory.max") == str(64 * MiB)
    swap = cgfile(cg, "memory.swap.max")
    assert swap is None or swap == str(32 * MiB)  # swap alone: memory+swap - memory
    assert cgfile(cg, "cpuset.cpus") == "0"
    assert cgfile(cg, "cpuset.mems") == "0"
    assert cgfile(cg, "memory.high") == str(48 * MiB)
    assert cgfile(cg, "pids.max") == "77"
    assert cgfile(cg, "memory.oom.group") == "1"
    if size:
        assert cgfile(cg, "hugetlb.%s.max" % size) == "0"
        rsvd = cgfile(cg, "hugetlb.%s.rsvd.max" % size)
        assert rsvd is None or rsvd == "0"


@v2_only
def test_swap_equal_to_memory_means_no_swap(pod):
    d, pod_id, cfg, image = pod
    res = pb().LinuxContainerResources(memory_limit_in_bytes=64 * MiB, memory_swap_limit_in_bytes=64 * MiB)
    cg = info(d, run(d, pod_id, cfg, image, resources=res))["cgroupPath"]
    assert cgfile(cg, "memory.swap.max") in (None, "0")


@v2_only
def test_update_container_resources(pod):
    d, pod_id, cfg, image = pod
    res = pb().LinuxContainerResources(cpu_period=100000, cpu_quota=20000, cpu_shares=256,
                                       memory_limit_in_bytes=64 * MiB)
    cid = run(d, pod_id, cfg, image, resources=res)
    cg = info(d, cid)["cgroupPath"]
    assert cgfile(cg, "cpu.max") == "20000 100000"
    d.call("UpdateContainerResources", pb().UpdateContainerResourcesRequest(
        container_id=cid, linux=pb().LinuxContainerResources(
            cpu_period=100000, cpu_quota=-1, cpu_shares=2048, memory_limit_in_bytes=96 * MiB,
            unified={"memory.high": str(80 * MiB)})))
    assert cgfile(cg, "cpu.max") == "max 100000"
    assert cgfile(cg, "cpu.weight") == str(shares_to_weight(2048))
    assert cgfile(cg, "memory.max") == str(96 * MiB)
    assert cgfile(cg, "memory.high") == str(80 * MiB)
    # All or nothing: a bad unified key changes nothing, and says which.
    msg = refused(lambda: d.call("UpdateContainerResources", pb().UpdateContainerResourcesRequest(
        container_id=cid, linux=pb().LinuxContainerResources(memory_limit_in_bytes=128 * MiB,
                                                             unified={"cgroup.procs": "1"}))))
    assert "cgroup.procs" in msg
    # A key that passes the checks but has no file here (no such controller file): rolled back.
    refused(lambda: d.call("UpdateContainerResources", pb().UpdateContainerResourcesRequest(
        container_id=cid, linux=pb().LinuxContainerResources(memory_limit_in_bytes=128 * MiB,
                                                             unified={"memory.nosuchfile": "1"}))))
    assert cgfile(cg, "memory.max") == str(96 * MiB)


@v2_only
@pytest.mark.parametrize("key", ["../memory.max", "memory.max/x", "cgroup.procs", "cgroup.subtree_control",
                                 "cgroup.kill", "devices.allow", "nodot", "memory..max"])
def test_bad_unified_keys_are_refused_before_anything_is_made(pod, key):
    d, pod_id, cfg, image = pod
    before = sorted(os.listdir(ROOT + d.pod_cgroup(pod_id)))
    refused(lambda: create(d, pod_id, cfg, image, ["true"], pb().LinuxContainerResources(unified={key: "1"})))
    assert sorted(os.listdir(ROOT + d.pod_cgroup(pod_id))) == before
    assert list(d.call("ListContainers", pb().ListContainersRequest()).containers) == []


@v2_only
def test_io_weight(pod):
    d, pod_id, cfg, image = pod
    cid = run(d, pod_id, cfg, image, resources=pb().LinuxContainerResources(unified={"io.weight": "default 200"}))
    cg = info(d, cid)["cgroupPath"]
    if cgfile(cg, "io.weight") is not None:
        assert cgfile(cg, "io.weight") == "default 200"
    else:  # only BFQ: its 1..1000 scale
        assert cgfile(cg, "io.bfq.weight").split()[-1] == str(10 + (199 * 990) // 9999)


@v2_only
@pytest.mark.parametrize("oom_group", [None, "1"])
def test_oom_kill_is_reported(pod, oom_group):
    """Also with memory.oom.group=1, what kubelet asks for on v2: the kernel then kills every process of
    the cgroup, which with the systemd driver must spare crisp-hold so that the scope outlives it."""
    d, pod_id, cfg, image = pod
    res = pb().LinuxContainerResources(memory_limit_in_bytes=24 * MiB, memory_swap_limit_in_bytes=24 * MiB,
                                       unified={"memory.oom.group": oom_group} if oom_group else {})
    script = "sleep 1000 & x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"
    cid = run(d, pod_id, cfg, image, ["sh", "-c", script], res)
    cg = info(d, cid)["cgroupPath"]
    st = wait_exited(d, cid)
    assert st.reason == "OOMKilled", (st.reason, st.exit_code)
    events = dict(l.split() for l in cgfile(cg, "memory.events").splitlines())
    assert int(events["oom_kill"]) >= 1
    if oom_group:
        assert workload(cg) == []  # the background sleep went with the group


@v2_only
def test_stop_kills_every_process_through_cgroup_kill(pod):
    d, pod_id, cfg, image = pod
    cid = run(d, pod_id, cfg, image, ["sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & sleep 1000 & wait"])
    cg = info(d, cid)["cgroupPath"]
    assert os.path.exists(ROOT + cg + "/cgroup.kill")  # write-only
    deadline = time.monotonic() + 10
    while len(workload(cg)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workload(cg)) == 4
    d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0), timeout=60)
    assert workload(cg) == []
    assert wait_exited(d, cid).exit_code == 137


@v2_only
def test_private_cgroup_namespace(pod):
    d, pod_id, cfg, image = pod
    res = pb().LinuxContainerResources(memory_limit_in_bytes=40 * MiB)
    cid = run(d, pod_id, cfg, image, resources=res)
    i = info(d, cid)
    # The workload (pid 1 of its PID namespace) and an exec both see their cgroup as the root.
    assert exec_sync(d, cid, ["cat", "/proc/1/cgroup"]).stdout == b"0::/\n"
    assert exec_sync(d, cid, ["cat", "/proc/self/cgroup"]).stdout == b"0::/\n"
    # From the host, the workload is in the container's cgroup (born there: CLONE_INTO_CGROUP).
    with open("/proc/%d/cgroup" % i["pid"]) as f:
        assert f.read() == "0::%s\n" % i["cgroupPath"]
    assert os.readlink("/proc/%d/ns/cgroup" % i["pid"]) != os.readlink("/proc/self/ns/cgroup")
    # /sys/fs/cgroup in the container is its own cgroup, read-only.
    assert exec_sync(d, cid, ["cat", "/sys/fs/cgroup/memory.max"]).stdout.strip() == str(40 * MiB).encode()
    procs = exec_sync(d, cid, ["cat", "/sys/fs/cgroup/cgroup.procs"]).stdout.split()
    assert b"1" in procs
    assert exec_sync(d, cid, ["sh", "-c", "echo 1 > /sys/fs/cgroup/memory.max"]).exit_code != 0
    mi = exec_sync(d, cid, ["grep", " /sys/fs/cgroup ", "/proc/self/mountinfo"]).stdout.decode()
    assert mi.split()[3] == "/", mi


@v2_only
def test_two_containers_have_different_cgroup_namespaces(pod):
    d, pod_id, cfg, image = pod
    a, b = run(d, pod_id, cfg, image, name="a"), run(d, pod_id, cfg, image, name="b")
    ia, ib = info(d, a), info(d, b)
    assert os.readlink("/proc/%d/ns/cgroup" % ia["pid"]) != os.readlink("/proc/%d/ns/cgroup" % ib["pid"])


@v2_only
def test_device_filter_denies_what_was_not_allowed(pod):
    d, pod_id, cfg, image = pod
    cid = run(d, pod_id, cfg, image)
    # mknod is allowed (as runc allows it), opening is not: a disk (block 8:0) and /dev/kmsg (char 1:11).
    r = exec_sync(d, cid, ["sh", "-c", "mknod /dev/xsda b 8 0 && head -c1 /dev/xsda"])
    assert r.exit_code != 0 and b"Operation not permitted" in r.stderr, r.stderr
    r = exec_sync(d, cid, ["sh", "-c", "mknod /dev/xkmsg c 1 11 && head -c1 /dev/xkmsg"])
    assert r.exit_code != 0 and b"Operation not permitted" in r.stderr, r.stderr
    # The standard ones work, also when made anew.
    r = exec_sync(d, cid, ["sh", "-c", "mknod /dev/xnull c 1 3 && echo hi > /dev/xnull && head -c4 /dev/zero | wc -c"])
    assert r.exit_code == 0 and r.stdout.strip() == b"4", r.stderr
    cg = info(d, cid)["cgroupPath"]
    assert os.path.isdir(ROOT + cg)


@v2_only
def test_privileged_container_has_no_device_filter(crispd, image):
    d = crispd
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    cfg = pod_config("v2-privileged", host_network=True)
    cfg.linux.security_context.privileged = True
    cfg.log_directory = os.path.join(d.dir, "logs")
    os.makedirs(cfg.log_directory, exist_ok=True)
    pod_id = run_pod(d, cfg)
    try:
        cid = run(d, pod_id, cfg, image, privileged=True)
        r = exec_sync(d, cid, ["sh", "-c", "mknod /dev/xkmsg c 1 11 && head -c1 /dev/xkmsg >/dev/null"])
        assert b"Operation not permitted" not in r.stderr, r.stderr
    finally:
        remove_pod(d, pod_id)


@v2_only
def test_pod_resources_with_overhead(crispd, image):
    d = crispd
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    parent = d.cgroup_parent + "/burstable/podv2"
    cfg = pod_config("v2res", host_network=True, cgroup_parent=parent)
    cfg.log_directory = os.path.join(d.dir, "logs")
    os.makedirs(cfg.log_directory, exist_ok=True)
    cfg.linux.resources.CopyFrom(pb().LinuxContainerResources(cpu_period=100000, cpu_quota=50000, cpu_shares=1024,
                                                               memory_limit_in_bytes=256 * MiB))
    cfg.linux.overhead.CopyFrom(pb().LinuxContainerResources(memory_limit_in_bytes=16 * MiB, cpu_quota=10000,
                                                              cpu_shares=100))
    pod_id = run_pod(d, cfg)
    try:
        assert cgfile(parent, "memory.max") == str(272 * MiB)
        assert cgfile(parent, "cpu.max") == "60000 100000"
        assert cgfile(parent, "cpu.weight") == str(shares_to_weight(1124))
        # A container below it gets the controllers and its own limits.
        cid = run(d, pod_id, cfg, image, resources=pb().LinuxContainerResources(memory_limit_in_bytes=32 * MiB))
        cg = info(d, cid)["cgroupPath"]
        assert cg.startswith(parent + "/")
        assert cgfile(cg, "memory.max") == str(32 * MiB)
        d.call("UpdatePodSandboxResources", pb().UpdatePodSandboxResourcesRequest(
            pod_sandbox_id=pod_id, resources=pb().LinuxContainerResources(
                cpu_period=100000, cpu_quota=80000, memory_limit_in_bytes=512 * MiB),
            overhead=pb().LinuxContainerResources(memory_limit_in_bytes=16 * MiB)))
        assert cgfile(parent, "memory.max") == str(528 * MiB)
        assert cgfile(parent, "cpu.max") == "80000 100000"
    finally:
        remove_pod(d, pod_id)
    assert not os.path.exists(ROOT + parent)


@v2_only
def test_shared_pid_pod_on_v2(crispd, image):
    """The pod's init and the containers' cgroups: no process may sit in a cgroup whose children have
    controllers (v2's no-internal-processes rule)."""
    d = crispd
    pod_id, cfg = new_pod(d, image, name="v2-sharedpid", shared_pid=True)
    try:
        cid = run(d, pod_id, cfg, image, resources=pb().LinuxContainerResources(memory_limit_in_bytes=32 * MiB))
        assert cgfile(info(d, cid)["cgroupPath"], "memory.max") == str(32 * MiB)
        assert exec_sync(d, cid, ["cat", "/proc/self/cgroup"]).stdout == b"0::/\n"
    finally:
        remove_pod(d, pod_id)


@v1_only
def test_unified_is_refused_on_v1(crispd, image):
    d = crispd
    pod_id, cfg = new_pod(d, image, name="v1-unified")
    try:
        msg = refused(lambda: create(d, pod_id, cfg, image, ["true"],
                                     pb().LinuxContainerResources(unified={"memory.high": "1000000"})))
        assert "cgroup v2" in msg, msg
        assert list(d.call("ListContainers", pb().ListContainersRequest()).containers) == []
        pod_cg = "/sys/fs/cgroup/memory" + d.pod_cgroup(pod_id)
        assert [n for n in os.listdir(pod_cg) if os.path.isdir(os.path.join(pod_cg, n))] == []
    finally:
        remove_pod(d, pod_id)
