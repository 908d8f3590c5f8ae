"""Containers through crisp-monitor: lifecycle, image config merging, mounts, cgroups, OOM, exec-sync,
CRI logs, and containers outliving a killed crispd. Images come from the harness's local registry."""
import os
import re
import signal
import subprocess
import time

import grpc
import pytest

import imagelib as il
from conftest import pb
from podlib import pod_config, remove_pod, run_pod

# cgroup v2 (one tree, /sys/fs/cgroup/cgroup.controllers) or v1 (a tree per controller).
V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def cg_file(cg, v1_ctrl, v1_name, v2_name):
    return "/sys/fs/cgroup%s/%s" % (cg, v2_name) if V2 else "/sys/fs/cgroup/%s%s/%s" % (v1_ctrl, cg, v1_name)


def memory_limit(cg):
    with open(cg_file(cg, "memory", "memory.limit_in_bytes", "memory.max")) as f:
        return int(f.read())


def cpu_quota(cg):
    with open(cg_file(cg, "cpu", "cpu.cfs_quota_us", "cpu.max")) as f:
        return int(f.read().split()[0])


CRI_LOG = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) (F|P) (.*)$")


@pytest.fixture(scope="module")
def registry():
    r = il.Registry()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def busybox(registry):
    img = il.build_busybox_image(registry, "library/busybox", "ctr", env=["FROM_IMAGE=1", "OVERRIDE=image"],
                                 workdir="/srv", entrypoint=None, cmd=("/bin/sh", "-c", "echo image-cmd"))
    img.ref_str = "%s/library/busybox:ctr" % registry.host
    return img


@pytest.fixture
def pod(crispd, busybox):
    crispd.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=busybox.ref_str)), timeout=120)
    logs = os.path.join(crispd.dir, "logs")
    os.mkdir(logs)
    cfg = pod_config("ctr-pod", host_network=True)
    cfg.log_directory = logs
    pod_id = run_pod(crispd, cfg)
    yield crispd, pod_id, cfg, busybox.ref_str
    remove_pod(crispd, pod_id)
    assert crispd_monitors_of(crispd) == []


def crispd_monitors_of(d):
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
            if cmd and cmd[0].endswith(b"crisp-monitor") and any(d.state.encode() in c for c in cmd):
                out.append(int(pid))
        except OSError:
            pass
    return out


def create(d, pod_id, cfg, image, name="c", command=None, args=None, env=None, mounts=None, log="c/0.log",
           resources=None, workdir="", attempt=0, security=None):
    linux = None
    if resources or security:
        linux = pb().LinuxContainerConfig(resources=resources, security_context=security)
    config = pb().ContainerConfig(
        metadata=pb().ContainerMetadata(name=name, attempt=attempt), image=pb().ImageSpec(image=image),
        command=command or [], args=args or [], working_dir=workdir,
        envs=[pb().KeyValue(key=k, value=v.encode() if isinstance(v, str) else v) for k, v in (env or {}).items()], mounts=mounts or [], log_path=log,
        linux=linux, labels={"app": name})
    req = pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=cfg)
    return d.call("CreateContainer", req, timeout=60).container_id


def start(d, cid):
    d.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)


def status(d, cid):
    return d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid)).status


def wait_exited(d, cid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(d, cid)
        if st.state == pb().CONTAINER_EXITED:
            return st
        time.sleep(0.05)
    raise AssertionError("container %s did not exit" % cid)


def log_lines(d, cfg, rel="c/0.log"):
    with open(os.path.join(cfg.log_directory, rel)) as f:
        return [CRI_LOG.match(l.rstrip("\n")) for l in f]


def exec_sync(d, cid, cmd, timeout=10):
    return d.call("ExecSync", pb().ExecSyncRequest(container_id=cid, cmd=cmd, timeout=timeout), timeout=timeout + 30)


def test_long_running_lifecycle(pod):
    d, pod_id, cfg, image = pod
    # PID 1 of its namespace: SIGTERM reaches it only through a handler.
    cid = create(d, pod_id, cfg, image,
                 command=["sh", "-c", "trap 'exit 143' TERM; echo ready; while true; do sleep 0.1; done"])
    st = status(d, cid)
    assert st.state == pb().CONTAINER_CREATED and st.metadata.name == "c" and st.labels["app"] == "c"
    assert st.image.image == image and "@sha256:" in st.image_ref and st.image_id.startswith("sha256:")
    start(d, cid)
    st = status(d, cid)
    assert st.state == pb().CONTAINER_RUNNING and st.started_at > 0
    listed = d.call("ListContainers", pb().ListContainersRequest()).containers
    assert [c.id for c in listed] == [cid] and listed[0].pod_sandbox_id == pod_id
    running = pb().ContainerFilter(state=pb().ContainerStateValue(state=pb().CONTAINER_RUNNING))
    assert len(d.call("ListContainers", pb().ListContainersRequest(filter=running)).containers) == 1
    # Until the shell has set its trap, SIGTERM to a PID 1 without a handler is dropped.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(m and m.group(4) == "ready" for m in log_lines(d, cfg)):
        time.sleep(0.02)
    d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=20), timeout=60)
    st = status(d, cid)
    assert st.state == pb().CONTAINER_EXITED and st.exit_code == 128 + signal.SIGTERM and st.finished_at > 0
    d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=5))  # idempotent
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid))
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid))  # idempotent
    with pytest.raises(grpc.RpcError) as e:
        status(d, cid)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_stop_timeout_zero_kills_at_once(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"])
    start(d, cid)
    d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0), timeout=30)
    st = status(d, cid)
    assert st.state == pb().CONTAINER_EXITED and st.exit_code == 128 + signal.SIGKILL


def test_exiting_container_logs_and_exit_code(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sh", "-c", "echo hello; echo oops >&2; exit 3"])
    start(d, cid)
    st = wait_exited(d, cid)
    assert st.exit_code == 3 and st.reason == "Error"
    lines = log_lines(d, cfg)
    assert all(lines)
    assert [(m.group(2), m.group(3), m.group(4)) for m in lines] == [("stdout", "F", "hello"), ("stderr", "F", "oops")]


def test_completed_reason(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["true"])
    start(d, cid)
    st = wait_exited(d, cid)
    assert st.exit_code == 0 and st.reason == "Completed"


def test_missing_command_fails_start(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["/no/such/binary"])
    with pytest.raises(grpc.RpcError) as e:
        start(d, cid)
    assert "/no/such/binary" in e.value.details()
    st = status(d, cid)
    assert st.state == pb().CONTAINER_EXITED and st.exit_code == 127 and st.message


def test_image_config_merging(pod):
    d, pod_id, cfg, image = pod
    # No command, no args: the image's cmd.
    a = create(d, pod_id, cfg, image, name="a", log="a.log")
    start(d, a)
    wait_exited(d, a)
    assert [m.group(4) for m in log_lines(d, cfg, "a.log")] == ["image-cmd"]
    # Args only, env overriding, working dir from the image.
    b = create(d, pod_id, cfg, image, name="b", log="b.log", command=["sh", "-c"],
               args=['echo "$FROM_IMAGE $OVERRIDE $MINE"; pwd'], env={"OVERRIDE": "request", "MINE": "x"})
    start(d, b)
    wait_exited(d, b)
    assert [m.group(4) for m in log_lines(d, cfg, "b.log")] == ["1 request x", "/srv"]
    c = create(d, pod_id, cfg, image, name="c2", log="c2.log", command=["pwd"], workdir="/made/here")
    start(d, c)
    wait_exited(d, c)
    assert [m.group(4) for m in log_lines(d, cfg, "c2.log")] == ["/made/here"]


def test_bind_mounts_and_propagation(pod, tmpdir_clean):
    d, pod_id, cfg, image = pod
    rw = os.path.join(tmpdir_clean, "rw")
    ro = os.path.join(tmpdir_clean, "ro")
    os.mkdir(rw)
    os.mkdir(ro)
    # A private mount of the test's own: crisp must make it shared for rslave to see later mounts.
    subprocess.run(["mount", "--bind", rw, rw], check=True)
    subprocess.run(["mount", "--make-private", rw], check=True)
    try:
        mounts = [pb().Mount(container_path="/rw", host_path=rw,
                             propagation=pb().MountPropagation.Value("PROPAGATION_HOST_TO_CONTAINER")),
                  pb().Mount(container_path="/ro", host_path=ro, readonly=True)]
        cid = create(d, pod_id, cfg, image, command=["sleep", "1000"], mounts=mounts)
        start(d, cid)
        assert "shared:" in [l for l in open("/proc/self/mountinfo") if l.split()[4] == rw][0]
        r = exec_sync(d, cid, ["sh", "-c", "echo inside > /rw/file"])
        assert r.exit_code == 0
        with open(os.path.join(rw, "file")) as f:
            assert f.read() == "inside\n"
        r = exec_sync(d, cid, ["sh", "-c", "echo no > /ro/file"])
        assert r.exit_code != 0 and b"Read-only" in r.stderr
        sub = os.path.join(rw, "sub")
        os.mkdir(sub)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", sub], check=True)
        with open(os.path.join(sub, "late"), "w") as f:
            f.write("late")
        try:
            assert exec_sync(d, cid, ["cat", "/rw/sub/late"]).stdout == b"late"
        finally:
            subprocess.run(["umount", sub], check=True)
        d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=60)
    finally:
        subprocess.run(["umount", "-l", rw], check=False)


def test_container_sees_its_own_cgroup(pod):
    d, pod_id, cfg, image = pod
    res = pb().LinuxContainerResources(memory_limit_in_bytes=48 << 20)
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"], resources=res)
    start(d, cid)
    limit = "/sys/fs/cgroup/memory.max" if V2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    r = exec_sync(d, cid, ["cat", limit])
    assert r.stdout.strip() == str(48 << 20).encode()
    assert exec_sync(d, cid, ["sh", "-c", "echo 1 > " + limit]).exit_code != 0


def test_cgroup_limits_and_update(pod):
    d, pod_id, cfg, image = pod
    res = pb().LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_period=100000, cpu_quota=20000,
                                       cpu_shares=256)
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"], resources=res)
    start(d, cid)
    info = __import__("json").loads(d.call("ContainerStatus", pb().ContainerStatusRequest(
        container_id=cid, verbose=True)).info["info"])
    cg = info["cgroupPath"]
    assert memory_limit(cg) == 64 << 20
    assert cpu_quota(cg) == 20000
    pid = info["pid"]
    with open("/proc/%d/cgroup" % pid) as f:
        assert cg in f.read()
    assert status(d, cid).resources.linux.memory_limit_in_bytes == 64 << 20
    d.call("UpdateContainerResources", pb().UpdateContainerResourcesRequest(
        container_id=cid, linux=pb().LinuxContainerResources(memory_limit_in_bytes=96 << 20)))
    assert memory_limit(cg) == 96 << 20
    st = status(d, cid)
    assert st.resources.linux.memory_limit_in_bytes == 96 << 20 and st.resources.linux.cpu_quota == 20000
    # All or nothing: a bad value changes nothing.
    with pytest.raises(grpc.RpcError):
        d.call("UpdateContainerResources", pb().UpdateContainerResourcesRequest(
            container_id=cid, linux=pb().LinuxContainerResources(memory_limit_in_bytes=128 << 20,
                                                                 cpuset_cpus="999")))
    assert memory_limit(cg) == 96 << 20


def test_memory_hog_is_oom_killed(pod):
    d, pod_id, cfg, image = pod
    res = pb().LinuxContainerResources(memory_limit_in_bytes=24 << 20, memory_swap_limit_in_bytes=24 << 20)
    cid = create(d, pod_id, cfg, image, command=["sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"],
                 resources=res)
    start(d, cid)
    st = wait_exited(d, cid, timeout=60)
    assert st.reason == "OOMKilled"


def test_exec_sync_output_exit_code_and_timeout(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"])
    start(d, cid)
    r = exec_sync(d, cid, ["sh", "-c", "echo out; echo err >&2; exit 5"])
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 5)
    assert exec_sync(d, cid, ["cat", "/etc/hostname"]).exit_code == 0
    with pytest.raises(grpc.RpcError) as e:
        exec_sync(d, cid, ["sh", "-c", "sleep 1001 & sleep 1001"], timeout=1)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "timed out" in e.value.details()
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", "sleep 1001"], capture_output=True, text=True).stdout.split()
    assert left == []


def test_long_lines_and_reopen(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sh", "-c",
                 "head -c 40000 /dev/zero | tr '\\0' x; echo; while true; do echo tick; sleep 0.05; done"])
    start(d, cid)
    path = os.path.join(cfg.log_directory, "c/0.log")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "tick" not in open(path).read():
        time.sleep(0.05)
    lines = [m for m in log_lines(d, cfg)]
    assert all(lines)
    assert [m.group(3) for m in lines[:3]] == ["P", "P", "F"]
    assert sum(len(m.group(4)) for m in lines[:3]) == 40000 and len(lines[0].group(4)) == 16384
    os.rename(path, path + ".1")
    d.call("ReopenContainerLog", pb().ReopenContainerLogRequest(container_id=cid))
    time.sleep(0.3)
    with open(path) as f:
        assert "tick" in f.read()


def test_containers_outlive_a_killed_crispd(pod):
    d, pod_id, cfg, image = pod
    long_ = create(d, pod_id, cfg, image, name="long", log="long.log", command=["sleep", "1000"])
    short = create(d, pod_id, cfg, image, name="short", log="short.log", command=["sh", "-c", "sleep 1; exit 9"])
    start(d, long_)
    start(d, short)
    d.proc.kill()
    d.proc.wait()
    time.sleep(2)
    d.start()
    assert status(d, long_).state == pb().CONTAINER_RUNNING
    st = status(d, short)
    assert st.state == pb().CONTAINER_EXITED and st.exit_code == 9


DEFAULT_CAPS = 0x00000000a80425fb  # chown dac_override fowner fsetid kill setgid setuid setpcap
                                   # net_bind_service net_raw sys_chroot mknod audit_write setfcap


def caps_of(text):
    return {l.split(":")[0]: int(l.split()[1], 16) for l in text.splitlines() if l.startswith("Cap")}


@pytest.mark.parametrize("security,eff,bnd", [
    (None, DEFAULT_CAPS, DEFAULT_CAPS),
    ("drop-all", 0, 0),
    ("drop-all-add-nbs", 1 << 10, 1 << 10),
    ("add-net-admin-drop-kill", (DEFAULT_CAPS | 1 << 12) & ~(1 << 5), (DEFAULT_CAPS | 1 << 12) & ~(1 << 5)),
    ("non-root", 0, DEFAULT_CAPS),
])
def test_capabilities(pod, security, eff, bnd):
    d, pod_id, cfg, image = pod
    sc = {
        None: None,
        "drop-all": pb().LinuxContainerSecurityContext(capabilities=pb().Capability(drop_capabilities=["ALL"])),
        "drop-all-add-nbs": pb().LinuxContainerSecurityContext(capabilities=pb().Capability(
            drop_capabilities=["ALL"], add_capabilities=["CAP_NET_BIND_SERVICE"])),
        "add-net-admin-drop-kill": pb().LinuxContainerSecurityContext(capabilities=pb().Capability(
            add_capabilities=["NET_ADMIN"], drop_capabilities=["KILL"])),
        "non-root": pb().LinuxContainerSecurityContext(run_as_user=pb().Int64Value(value=1000)),
    }[security]
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"], security=sc)
    start(d, cid)
    with open("/proc/%d/status" % status_pid(d, cid)) as f:
        caps = caps_of(f.read())
    assert (caps["CapEff"], caps["CapBnd"]) == (eff, bnd)
    # ExecSync gets the same set.
    caps = caps_of(exec_sync(d, cid, ["cat", "/proc/self/status"]).stdout.decode())
    assert (caps["CapEff"], caps["CapBnd"]) == (eff, bnd)


def status_pid(d, cid):
    import json
    return json.loads(d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid, verbose=True))
                      .info["info"])["pid"]


def test_no_new_privs(pod):
    d, pod_id, cfg, image = pod
    sc = pb().LinuxContainerSecurityContext(no_new_privs=True)
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"], security=sc)
    start(d, cid)
    with open("/proc/%d/status" % status_pid(d, cid)) as f:
        assert "NoNewPrivs:\t1" in f.read()
    assert b"NoNewPrivs:\t1" in exec_sync(d, cid, ["cat", "/proc/self/status"]).stdout
    other = create(d, pod_id, cfg, image, name="plain", log="plain.log", command=["sleep", "1000"])
    start(d, other)
    with open("/proc/%d/status" % status_pid(d, other)) as f:
        assert "NoNewPrivs:\t0" in f.read()


def test_unknown_capability_is_invalid_argument(pod):
    d, pod_id, cfg, image = pod
    sc = pb().LinuxContainerSecurityContext(capabilities=pb().Capability(add_capabilities=["CAP_FLY"]))
    with pytest.raises(grpc.RpcError) as e:
        create(d, pod_id, cfg, image, command=["true"], security=sc)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "CAP_FLY" in e.value.details()
    assert len(d.call("ListContainers", pb().ListContainersRequest()).containers) == 0


def test_masked_readonly_paths_and_readonly_rootfs(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"])
    start(d, cid)
    assert exec_sync(d, cid, ["cat", "/proc/kcore"]).stdout == b""          # masked by default
    assert exec_sync(d, cid, ["ls", "/sys/firmware"]).stdout == b""
    r = exec_sync(d, cid, ["sh", "-c", "echo 1 > /proc/sys/kernel/domainname"])
    assert r.exit_code != 0 and b"Read-only" in r.stderr
    assert exec_sync(d, cid, ["sh", "-c", "echo ok > /rootfs-is-writable"]).exit_code == 0
    sc = pb().LinuxContainerSecurityContext(readonly_rootfs=True, masked_paths=["/etc/hostname", "/srv"],
                                            readonly_paths=["/tmp"])
    ro = create(d, pod_id, cfg, image, name="ro", log="ro.log", command=["sleep", "1000"], security=sc)
    start(d, ro)
    r = exec_sync(d, ro, ["sh", "-c", "echo no > /file"])
    assert r.exit_code != 0 and b"Read-only" in r.stderr
    assert exec_sync(d, ro, ["cat", "/etc/hostname"]).stdout == b""
    assert exec_sync(d, ro, ["sh", "-c", "echo no > /tmp/x"]).exit_code != 0
    assert exec_sync(d, ro, ["sh", "-c", "echo yes > /dev/shm/x"]).exit_code == 0   # volumes stay writable
    # kubelet's own list replaces the default one.
    assert exec_sync(d, cid, ["cat", "/proc/timer_list"]).stdout == b""
    assert exec_sync(d, ro, ["cat", "/proc/timer_list"]).stdout != b""


def test_bad_masked_path_is_invalid_argument(pod):
    d, pod_id, cfg, image = pod
    sc = pb().LinuxContainerSecurityContext(masked_paths=["relative/path"])
    with pytest.raises(grpc.RpcError) as e:
        create(d, pod_id, cfg, image, command=["true"], security=sc)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "must be absolute" in e.value.details()


def test_workload_and_execs_are_in_the_container_cgroups(pod):
    import json
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"])
    start(d, cid)
    info = json.loads(d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid, verbose=True))
                      .info["info"])
    want = info["cgroupPath"]

    def paths(text):
        out = {}
        for line in text.splitlines():
            _, ctrls, path = line.split(":", 2)
            for c in ctrls.split(","):
                if c in ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer"):
                    out[c] = path
        return out
    with open("/proc/%d/cgroup" % info["pid"]) as f:
        host_view = f.read()
    if V2:  # one line; in the container's own cgroup namespace, its cgroup is the root
        assert host_view == "0::%s\n" % want
        assert exec_sync(d, cid, ["cat", "/proc/self/cgroup"]).stdout == b"0::/\n"
        return
    workload = paths(host_view)
    assert workload and set(workload.values()) == {want}
    execd = paths(exec_sync(d, cid, ["cat", "/proc/self/cgroup"]).stdout.decode())
    assert execd == workload


def mountpoints(*under):
    """The host's mount points, or those below the given directories (other tests may be mounting)."""
    with open("/proc/self/mountinfo") as f:
        points = [l.split()[4] for l in f]
    return [p for p in points if not under or any(p == u or p.startswith(u + "/") for u in under)]


def rro_supported(d):
    handlers = d.call("Status", pb().StatusRequest()).runtime_handlers
    return handlers[0].features.recursive_read_only_mounts


def test_status_advertises_recursive_read_only_mounts(crispd):
    # mount_setattr(2) came with Linux 5.12; Status says so exactly when the kernel has it.
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    assert rro_supported(crispd) == ((major, minor) >= (5, 12))


def test_recursive_read_only_volume(pod, tmpdir_clean):
    d, pod_id, cfg, image = pod
    if not rro_supported(d):
        pytest.skip("the kernel has no mount_setattr")
    vol = os.path.join(tmpdir_clean, "vol")
    sub = os.path.join(vol, "tmpfs")
    os.makedirs(sub)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", sub], check=True)
    try:
        mounts = [pb().Mount(container_path="/rro", host_path=vol, readonly=True, recursive_read_only=True),
                  pb().Mount(container_path="/ro", host_path=vol, readonly=True)]
        cid = create(d, pod_id, cfg, image, command=["sleep", "1000"], mounts=mounts)
        start(d, cid)
        r = exec_sync(d, cid, ["touch", "/rro/tmpfs/file"])
        assert r.exit_code != 0 and b"Read-only file system" in r.stderr
        r = exec_sync(d, cid, ["touch", "/rro/file"])
        assert r.exit_code != 0 and b"Read-only file system" in r.stderr
        # Plain read-only covers the volume's own mount, not the mounts below it.
        assert exec_sync(d, cid, ["touch", "/ro/tmpfs/file"]).exit_code == 0
        assert os.path.exists(os.path.join(sub, "file"))
        r = exec_sync(d, cid, ["touch", "/ro/file"])
        assert r.exit_code != 0 and b"Read-only file system" in r.stderr
        d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=60)
    finally:
        subprocess.run(["umount", "-l", sub], check=False)


@pytest.mark.parametrize("readonly,propagation,message", [
    (False, "PROPAGATION_PRIVATE", "recursive_read_only needs readonly"),
    (True, "PROPAGATION_HOST_TO_CONTAINER", "needs PROPAGATION_PRIVATE, not PROPAGATION_HOST_TO_CONTAINER"),
    (True, "PROPAGATION_BIDIRECTIONAL", "needs PROPAGATION_PRIVATE, not PROPAGATION_BIDIRECTIONAL"),
])
def test_recursive_read_only_bad_combinations_are_refused(pod, tmpdir_clean, readonly, propagation, message):
    d, pod_id, cfg, image = pod
    before = mountpoints(tmpdir_clean, d.dir)
    mounts = [pb().Mount(container_path="/mnt", host_path=tmpdir_clean, readonly=readonly, recursive_read_only=True,
                         propagation=pb().MountPropagation.Value(propagation))]
    with pytest.raises(grpc.RpcError) as e:
        create(d, pod_id, cfg, image, command=["true"], mounts=mounts)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in e.value.details()
    assert "/mnt" in e.value.details()
    assert len(d.call("ListContainers", pb().ListContainersRequest()).containers) == 0
    assert mountpoints(tmpdir_clean, d.dir) == before  # refused before any host mount was touched


def test_bidirectional_propagation(crispd, busybox, tmpdir_clean):
    """critest's "mount with 'rshared' should support propagation from host to container and vice versa"."""
    d = crispd
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=busybox.ref_str)), timeout=120)
    mnt = os.path.join(tmpdir_clean, "mnt")
    host_point = os.path.join(mnt, "propagationMnt")
    ctr_point = os.path.join(mnt, "containerMntPoint")
    src = os.path.join(tmpdir_clean, "propagationSrcDir")
    os.makedirs(host_point)
    os.makedirs(src)
    open(os.path.join(src, "flagFile"), "w").close()
    cfg = pod_config("bidi-pod", host_network=True)
    cfg.linux.security_context.privileged = True
    cfg.log_directory = os.path.join(d.dir, "logs-bidi")
    os.mkdir(cfg.log_directory)
    subprocess.run(["mount", "--bind", mnt, mnt], check=True)
    pod_id = None
    try:
        subprocess.run(["mount", "--make-rshared", mnt], check=True)
        pod_id = run_pod(d, cfg)
        mounts = [pb().Mount(container_path=mnt, host_path=mnt,
                             propagation=pb().MountPropagation.Value("PROPAGATION_BIDIRECTIONAL"))]
        cid = create(d, pod_id, cfg, busybox.ref_str, command=["sleep", "1000"], mounts=mounts,
                     security=pb().LinuxContainerSecurityContext(privileged=True))
        before = mountpoints(tmpdir_clean, d.dir)
        start(d, cid)
        assert mountpoints(tmpdir_clean, d.dir) == before  # nothing of the container's own reaches the host
        # Host to container.
        subprocess.run(["mount", "--bind", src, host_point], check=True)
        assert exec_sync(d, cid, ["ls", "-A", host_point]).stdout == b"flagFile\n"
        # Container to host.
        assert exec_sync(d, cid, ["mkdir", "-p", ctr_point]).exit_code == 0
        r = exec_sync(d, cid, ["mount", "--bind", "/etc", ctr_point])
        assert r.exit_code == 0, r.stderr
        assert ctr_point in mountpoints()
        assert "hostname" in os.listdir(ctr_point)
    finally:
        for point in (ctr_point, host_point, mnt):
            while point in mountpoints():
                subprocess.run(["umount", "-l", point], check=True)
        if pod_id:
            remove_pod(d, pod_id)


def test_image_ref_is_the_repo_digest(pod, busybox, registry):
    """ContainerStatus and ListContainers report the repository digest the image was pulled by, as
    containerd and CRI-O do (kubectl's imageID); image_id keeps the config digest."""
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"])
    want = "%s/library/busybox@%s" % (registry.host, busybox.manifest_digest)
    st = status(d, cid)
    assert (st.image_ref, st.image_id) == (want, busybox.config_digest)
    listed = d.call("ListContainers", pb().ListContainersRequest()).containers
    assert [(c.image_ref, c.image_id) for c in listed] == [(want, busybox.config_digest)]
    # Named by its config id, as kubelet does: the same digest.
    by_id = create(d, pod_id, cfg, busybox.config_digest, name="by-id", log="by-id/0.log", command=["true"])
    assert status(d, by_id).image_ref == want


def test_unknown_ids_are_idempotent(crispd):
    """critest's Idempotence specs: stopping or removing what does not exist is no error."""
    unknown = "4a6f7e52-9d0c-4c53-8d0e-3b7f5c1a2b3c"
    d = crispd
    d.call("StopContainer", pb().StopContainerRequest(container_id=unknown, timeout=0))
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=unknown))
    d.call("StopPodSandbox", pb().StopPodSandboxRequest(pod_sandbox_id=unknown))
    d.call("RemovePodSandbox", pb().RemovePodSandboxRequest(pod_sandbox_id=unknown))
    with pytest.raises(grpc.RpcError) as e:
        d.call("StopContainer", pb().StopContainerRequest(container_id=""))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def verbose_info(d, cid):
    import json
    resp = d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid, verbose=True))
    return json.loads(resp.info["info"])


def test_verbose_status_has_the_runtime_spec(pod, tmpdir_clean):
    d, pod_id, cfg, image = pod
    src = str(tmpdir_clean)
    m = pb().Mount(container_path="/data", host_path=src, mount_options=["noexec", "nosuid"])
    cid = create(d, pod_id, cfg, image, command=["/bin/sh", "-c", "sleep 60"], env={"GREETING": "a \"quoted\" \\ value"},
                 mounts=[m])
    try:
        start(d, cid)
        info = verbose_info(d, cid)
        spec = info["runtimeSpec"]
        assert info["sandboxID"] == pod_id and info["pid"] > 0
        assert spec["process"]["args"] == ["/bin/sh", "-c", "sleep 60"]
        assert 'GREETING=a "quoted" \\ value' in spec["process"]["env"]
        assert spec["process"]["user"]["uid"] == 0
        assert "CAP_CHOWN" in spec["process"]["capabilities"]["bounding"]
        assert spec["process"]["cwd"] == "/srv"
        data = [x for x in spec["mounts"] if x["destination"] == "/data"]
        assert data and data[0]["source"] == src and data[0]["type"] == "bind"
        assert {"noexec", "nosuid"} <= set(data[0]["options"])
        assert any(x["destination"] == "/proc" and x["type"] == "proc" for x in spec["mounts"])
        types = {n["type"] for n in spec["linux"]["namespaces"]}
        assert {"mount", "pid"} <= types and "network" not in types  # a host-network pod
        assert spec["linux"]["cgroupsPath"] == info["cgroupPath"]
        assert "/proc/kcore" in spec["linux"]["maskedPaths"]
    finally:
        d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=60)


def test_mount_options_are_applied(pod, tmpdir_clean):
    d, pod_id, cfg, image = pod
    src = str(tmpdir_clean)
    with open(os.path.join(src, "run.sh"), "w") as f:
        f.write("#!/bin/sh\necho ran\n")
    os.chmod(os.path.join(src, "run.sh"), 0o755)
    mounts = [pb().Mount(container_path="/noexec", host_path=src, mount_options=["noexec", "nodev", "nosuid"]),
              pb().Mount(container_path="/plain", host_path=src)]
    cid = create(d, pod_id, cfg, image, command=["/bin/sh", "-c", "sleep 60"], mounts=mounts)
    try:
        start(d, cid)
        assert exec_sync(d, cid, ["/plain/run.sh"]).stdout == b"ran\n"
        r = exec_sync(d, cid, ["/noexec/run.sh"])
        assert r.exit_code != 0
        opts = [l.split()[5] for l in exec_sync(d, cid, ["cat", "/proc/self/mountinfo"]).stdout.decode().splitlines()
                if l.split()[4] == "/noexec"]
        assert opts and {"noexec", "nodev", "nosuid"} <= set(opts[0].split(","))
    finally:
        d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=60)


def test_unsupported_mount_option_is_invalid_argument(pod, tmpdir_clean):
    d, pod_id, cfg, image = pod
    m = pb().Mount(container_path="/data", host_path=str(tmpdir_clean), mount_options=["size=1m"])
    with pytest.raises(grpc.RpcError) as e:
        create(d, pod_id, cfg, image, command=["true"], mounts=[m])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "size=1m" in e.value.details()


def test_env_values_are_bytes(pod):
    d, pod_id, cfg, image = pod
    odd = b"\xff\xfe caf\xc3\xa9 \\ \" ="
    cid = create(d, pod_id, cfg, image, command=["/bin/sh", "-c", "sleep 60"], env={"ODD": odd})
    try:
        start(d, cid)
        assert b"ODD=" + odd + b"\0" in exec_sync(d, cid, ["cat", "/proc/1/environ"]).stdout
        assert b"ODD=" + odd + b"\0" in exec_sync(d, cid, ["cat", "/proc/self/environ"]).stdout
        env = verbose_info(d, cid)["runtimeSpec"]["process"]["env"]
        assert "ODD=\ufffd\ufffd caf\u00e9 \\ \" =" in env  # JSON text is UTF-8: invalid bytes become U+FFFD
        # The container's record keeps the bytes too: it comes back after a restart, and so do its execs'.
        assert d.stop() == 0
        d.start()
        assert status(d, cid).state == pb().CONTAINER_RUNNING
        assert b"ODD=" + odd + b"\0" in exec_sync(d, cid, ["cat", "/proc/self/environ"]).stdout
    finally:
        d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=60)
    with pytest.raises(grpc.RpcError) as e:
        create(d, pod_id, cfg, image, command=["true"], env={"NUL": b"a\x00b"})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "NUL byte at offset 1" in e.value.details()


def wait_log(d, cfg, rel, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(cfg.log_directory, rel)) and \
                any(m and m.group(4) == text for m in log_lines(d, cfg, rel)):
            return
        time.sleep(0.02)
    raise AssertionError("%r not logged in %s" % (text, rel))


def stop_future(d, cid, grace):
    return d.call_future("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=grace), timeout=120)


def test_calls_answer_during_a_graceful_stop(pod):
    """Issue 12 item 13: a stop waiting out its grace period holds no lock that List, Status or Exec need."""
    d, pod_id, cfg, image = pod
    # Logs SIGTERM and goes on: only the grace period's end (or a forced stop) ends it.
    slow = create(d, pod_id, cfg, image, name="slow", log="slow.log",
                  command=["sh", "-c", "trap 'echo got-term' TERM; echo ready; while true; do sleep 0.1; done"])
    other = create(d, pod_id, cfg, image, name="other", log="other.log", command=["sleep", "1000"])
    start(d, slow)
    start(d, other)
    wait_log(d, cfg, "slow.log", "ready")
    stopping = stop_future(d, slow, 20)
    wait_log(d, cfg, "slow.log", "got-term")  # the stop is in its grace period now
    listed = d.call("ListContainers", pb().ListContainersRequest(), timeout=10).containers
    assert {c.id for c in listed} == {slow, other}
    assert status(d, slow).state == pb().CONTAINER_RUNNING
    assert status(d, other).state == pb().CONTAINER_RUNNING
    assert exec_sync(d, other, ["echo", "hi"]).stdout == b"hi\n"
    assert exec_sync(d, slow, ["echo", "still"]).stdout == b"still\n"
    # Every call above returned while the stop still waited.
    assert not stopping.done()
    # A second stop joins the first and cuts its grace period short: both return once it is stopped.
    d.call("StopContainer", pb().StopContainerRequest(container_id=slow, timeout=0), timeout=60)
    stopping.result()
    st = status(d, slow)
    assert st.state == pb().CONTAINER_EXITED and st.exit_code == 128 + signal.SIGKILL and st.reason == "Error"
    d.call("StopContainer", pb().StopContainerRequest(container_id=other, timeout=0), timeout=60)


def test_concurrent_stops_both_return_when_stopped(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image,
                 command=["sh", "-c", "trap 'sleep 0.5; exit 7' TERM; echo ready; while true; do sleep 0.1; done"])
    start(d, cid)
    wait_log(d, cfg, "c/0.log", "ready")
    stops = [stop_future(d, cid, 30) for _ in range(2)]
    for f in stops:
        f.result()
    st = status(d, cid)
    assert st.state == pb().CONTAINER_EXITED and st.exit_code == 7
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=60)


def monitor_of(d, cid):
    pids = [p for p in crispd_monitors_of(d) if cid in open("/proc/%d/cmdline" % p).read()]
    assert len(pids) == 1
    return pids[0]


def cgroup_dirs(cg):
    return [p for p in ("/sys/fs/cgroup/%s%s" % (ctl, cg) for ctl in ("memory", "pids", "cpu", "unified", ""))
            if os.path.isdir(p)]


def running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killed_monitor_is_noticed(pod):
    """Issue 12 item 8: after kill -9 of a monitor, no fixed wait and no invented exit."""
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"])
    start(d, cid)
    info = verbose_info(d, cid)
    workload, cg = info["pid"], info["cgroupPath"]
    assert cgroup_dirs(cg)
    os.kill(monitor_of(d, cid), signal.SIGKILL)
    # The workload outlived its monitor; the stop notices the death instead of waiting for a record.
    d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=30), timeout=5)
    st = status(d, cid)
    assert st.state == pb().CONTAINER_EXITED and st.reason == "MonitorLost"
    assert st.exit_code == 255 and "crisp-monitor" in st.message and "noticed" in st.message
    assert st.finished_at >= st.started_at > 0
    listed = d.call("ListContainers", pb().ListContainersRequest(), timeout=10).containers
    assert [c.state for c in listed if c.id == cid] == [pb().CONTAINER_EXITED]
    d.call("RemovePodSandbox", pb().RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=10)
    assert not running(workload)
    assert cgroup_dirs(cg) == [] and crispd_monitors_of(d) == []


def test_killed_monitor_seen_by_status(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"])
    start(d, cid)
    os.kill(monitor_of(d, cid), signal.SIGKILL)
    # Noticed by a status alone, without a stop: EXITED, with the workload killed.
    st = wait_exited(d, cid)
    assert st.reason == "MonitorLost" and st.exit_code == 255 and "SIGKILL" in st.message
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=30)


def test_monitor_killed_while_crispd_was_down(pod):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, command=["sleep", "1000"])
    start(d, cid)
    survivor = create(d, pod_id, cfg, image, name="survivor", log="survivor.log", command=["sleep", "1000"])
    start(d, survivor)
    workload = verbose_info(d, cid)["pid"]
    d.proc.kill()
    d.proc.wait()
    os.kill(monitor_of(d, cid), signal.SIGKILL)
    d.start()
    # The dead monitor is noticed at start-up, its orphaned workload killed; the other is adopted.
    st = status(d, cid)
    assert st.state == pb().CONTAINER_EXITED and st.reason == "MonitorLost" and st.exit_code == 255
    assert "SIGKILL" in st.message
    deadline = time.monotonic() + 10
    while running(workload):
        assert time.monotonic() < deadline, "the orphaned workload still runs"
        time.sleep(0.05)
    assert status(d, survivor).state == pb().CONTAINER_RUNNING


def container_dirs(d):
    return sorted(os.listdir(os.path.join(d.state, "containers")))


@pytest.mark.parametrize("log_dir,log_path,message", [
    (None, "../../x/y.log", 'log_path "../../x/y.log" has a ".." component'),
    (None, "c/../../../x/y.log", 'log_path "c/../../../x/y.log" has a ".." component'),
    (None, "/tmp/abs.log", 'log_path "/tmp/abs.log" must be a relative path'),
    ("relative-logs", "c/0.log", 'pod log_directory "relative-logs" is not an absolute path'),
    ("{logs}/../escape", "c/0.log", 'has a ".." component'),
])
def test_log_path_outside_the_pod_log_dir_is_refused(pod, log_dir, log_path, message):
    """Issue 12 item 9: nothing is made, not even the log directory."""
    d, pod_id, cfg, image = pod
    bad = pb().PodSandboxConfig()
    bad.CopyFrom(cfg)
    if log_dir:
        bad.log_directory = log_dir.format(logs=cfg.log_directory)
    before = container_dirs(d)
    with pytest.raises(grpc.RpcError) as e:
        create(d, pod_id, bad, image, command=["true"], log=log_path)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in e.value.details()
    assert os.listdir(cfg.log_directory) == []
    assert not os.path.exists(os.path.join(os.path.dirname(cfg.log_directory), "x"))
    assert not os.path.exists(os.path.join(os.path.dirname(cfg.log_directory), "escape"))
    assert container_dirs(d) == before
    assert list(d.call("ListContainers", pb().ListContainersRequest()).containers) == []


def test_refused_create_makes_no_log_dir(pod):
    """The log directory used to be made before the request was checked."""
    d, pod_id, cfg, image = pod
    dev = pb().Device(container_path="/etc/z", host_path="/dev/null", permissions="rw")
    config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name="c"), image=pb().ImageSpec(image=image),
                                  command=["true"], log_path="c/0.log", devices=[dev])
    with pytest.raises(grpc.RpcError) as e:
        d.call("CreateContainer", pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                              sandbox_config=cfg), timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert os.listdir(cfg.log_directory) == []


@pytest.mark.parametrize("field,value,message", [
    ("device", "/dev/../etc/z", 'device container_path "/dev/../etc/z" has a ".." component'),
    ("device", "/etc/z", 'device container_path "/etc/z" is not below /dev'),
    ("mount", "/mnt/..", 'mount container_path "/mnt/.." has a ".." component'),
    ("mount", "/", 'mount container_path "/" names no file or directory'),
    ("oom", 5000, "oom_score_adj 5000 is outside [-1000, 1000]"),
    ("cpus", "0-1000", "is not all online here"),
    ("cpus", "0-1; rm", "is not a list of numbers and ranges"),
    ("mems", "7-9", "cpuset_mems"),
    ("name", "a\0b", "runtime.v1.ContainerMetadata.name has a NUL byte"),
    ("env", 10, "command and environment (with the image's) take"),
    ("env", 1, "is 204804 bytes: at most 131072"),
])
def test_bad_requests_are_refused_at_create(pod, tmpdir_clean, field, value, message):
    """Issue 12 item 10: what used to fail at start, or not at all, is INVALID_ARGUMENT at create,
    with nothing made."""
    d, pod_id, cfg, image = pod
    kw = {"command": ["true"]}
    if field == "device":
        kw = {}
    if field == "mount":
        kw["mounts"] = [pb().Mount(container_path=value, host_path=str(tmpdir_clean))]
    elif field == "oom":
        kw["resources"] = pb().LinuxContainerResources(oom_score_adj=value)
    elif field == "cpus":
        kw["resources"] = pb().LinuxContainerResources(cpuset_cpus=value)
    elif field == "mems":
        kw["resources"] = pb().LinuxContainerResources(cpuset_mems=value)
    elif field == "env":
        kw["env"] = {"E%d" % i: "v" * (200 << 10 if value == 1 else 120 << 10) for i in range(value)}
    before = container_dirs(d)
    with pytest.raises(grpc.RpcError) as e:
        if field == "device":
            dev = pb().Device(container_path=value, host_path="/dev/null", permissions="rw")
            config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name="c"),
                                          image=pb().ImageSpec(image=image), command=["true"],
                                          log_path="c/0.log", devices=[dev])
            d.call("CreateContainer", pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                                  sandbox_config=cfg), timeout=60)
        else:
            create(d, pod_id, cfg, image, name=value if field == "name" else "c", **kw)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in e.value.details()
    assert len(e.value.details()) < 400
    assert container_dirs(d) == before
    assert os.listdir(cfg.log_directory) == []
    assert list(d.call("ListContainers", pb().ListContainersRequest()).containers) == []
    assert [c for c in os.listdir("/sys/fs/cgroup%s%s" % ("" if V2 else "/pids", d.pod_cgroup(pod_id)))
            if c.startswith(("ctr-", "crisp-"))] == []


def test_long_ids_are_not_found_with_a_bounded_message(crispd):
    """A 64 KiB id used to come back as a "metadata size exceeds limit" error on the client."""
    d = crispd
    long_id = "f" * (64 << 10)
    for method, req in (("ContainerStatus", pb().ContainerStatusRequest(container_id=long_id)),
                        ("StartContainer", pb().StartContainerRequest(container_id=long_id)),
                        ("PodSandboxStatus", pb().PodSandboxStatusRequest(pod_sandbox_id=long_id))):
        with pytest.raises(grpc.RpcError) as e:
            d.call(method, req)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND, method
        assert "not found" in e.value.details() and len(e.value.details()) < 200, method
    # Stopping or removing what does not exist is still no error.
    d.call("StopContainer", pb().StopContainerRequest(container_id=long_id))
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=long_id))
    d.call("StopPodSandbox", pb().StopPodSandboxRequest(pod_sandbox_id=long_id))
    d.call("RemovePodSandbox", pb().RemovePodSandboxRequest(pod_sandbox_id=long_id))
