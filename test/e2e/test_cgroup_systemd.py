"""The systemd cgroup driver: pods' slices and containers' transient scopes made over D-Bus.

Runs only where PID 1 is systemd: the test VM (vm/run.sh), on cgroup v2 as it boots, and on v1 with
VM_APPEND=systemd.unified_cgroup_hierarchy=0 for the tests marked so."""
import json
import os
import subprocess
import time
import uuid

import pytest

import imagelib as il
from conftest import pb
from podlib import pod_config, remove_pod, run_pod

CGROOT = "/sys/fs/cgroup"


def systemd_pid1():
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip() == "systemd"
    except OSError:
        return False


V2 = os.path.exists(CGROOT + "/cgroup.controllers")
pytestmark = pytest.mark.skipif(not systemd_pid1(), reason="needs systemd as PID 1 (the test VM)")
needs_v2 = pytest.mark.skipif(not V2, reason="needs cgroup v2")
needs_v1 = pytest.mark.skipif(V2, reason="needs cgroup v1 (VM_APPEND=systemd.unified_cgroup_hierarchy=0)")


def show(unit, *props):
    out = subprocess.run(["systemctl", "show", unit, "-p", ",".join(props)], capture_output=True, text=True,
                         check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def crisp_units():
    """crisp's container scopes (the VM runs this job as a crisp-* service of its own)."""
    out = subprocess.run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "crisp-*.scope"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def read(path):
    with open(path) as f:
        return f.read().strip()


@pytest.fixture(scope="module")
def busybox():
    r = il.Registry()
    img = il.build_busybox_image(r, "library/busybox", "sd", cmd=("/bin/sh", "-c", "echo hi"))
    img.ref_str = "%s/library/busybox:sd" % r.host
    yield img
    r.cleanup()


@pytest.fixture
def sd_pod(crispd_factory, busybox):
    d = crispd_factory(config={"cgroup_driver": "systemd"})
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=busybox.ref_str)), timeout=120)
    # As kubelet names a burstable pod's slice, below a top slice of this test's own.
    top = "crispe2e" + uuid.uuid4().hex[:8]
    uid = str(uuid.uuid4())
    slice_name = "%s-burstable-pod%s.slice" % (top, uid.replace("-", "_"))
    cfg = pod_config("sd", uid=uid, host_network=True, cgroup_parent=slice_name)
    cfg.log_directory = os.path.join(d.dir, "logs")
    os.mkdir(cfg.log_directory)
    pod_id = run_pod(d, cfg)
    path = "/%s.slice/%s-burstable.slice/%s" % (top, top, slice_name)
    yield d, pod_id, cfg, busybox.ref_str, slice_name, path, top
    remove_pod(d, pod_id)
    assert not os.path.exists(CGROOT + "/%s.slice" % top)
    assert crisp_units() == []
    assert "not-found" in show(slice_name, "LoadState")["LoadState"] or \
        show(slice_name, "ActiveState")["ActiveState"] == "inactive"


def create(d, pod_id, cfg, image, name, resources=None):
    config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name=name), image=pb().ImageSpec(image=image),
                                  command=["sleep", "1000"], log_path=name + ".log",
                                  linux=pb().LinuxContainerConfig(resources=resources))
    req = pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=cfg)
    return d.call("CreateContainer", req, timeout=60).container_id


def start(d, cid):
    d.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)


def cgroup_path(d, cid):
    st = d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid, verbose=True))
    return json.loads(st.info["info"])["cgroupPath"]


def wait_oom_group(cg, timeout=10):
    """crisp writes memory.oom.group again when systemd's Reloading signal reaches it: soon, not at once."""
    deadline = time.monotonic() + timeout
    while read(os.path.join(cg, "memory.oom.group")) != "1" and time.monotonic() < deadline:
        time.sleep(0.05)


@needs_v2
def test_pod_slice_and_container_scope(sd_pod):
    d, pod_id, cfg, image, slice_name, path, top = sd_pod
    assert show(slice_name, "ActiveState")["ActiveState"] == "active"
    res = pb().LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_period=100000, cpu_quota=50000,
                                       cpu_shares=512, unified={"memory.oom.group": "1"})
    cid = create(d, pod_id, cfg, image, "limited", res)
    scope = "crisp-%s.scope" % cid
    props = show(scope, "ActiveState", "Delegate", "ControlGroup", "Slice")
    assert props["ActiveState"] == "active" and props["Delegate"] == "yes" and props["Slice"] == slice_name
    assert props["ControlGroup"] == path + "/" + scope == cgroup_path(d, cid)
    start(d, cid)
    cg = CGROOT + props["ControlGroup"]
    pid = json.loads(d.call("ContainerStatus", pb().ContainerStatusRequest(
        container_id=cid, verbose=True)).info["info"])["pid"]
    assert read("/proc/%d/cgroup" % pid) == "0::" + props["ControlGroup"]
    # memory.oom.group has no property: systemd resets it whenever it applies the scope's properties,
    # and crisp writes it again (after an update at once, after a reload when the Reloading signal
    # comes).
    limits = {"memory.max": str(64 << 20), "cpu.max": "50000 100000", "cpu.weight": "20", "memory.oom.group": "1"}

    def check_limits():
        for f, v in limits.items():
            assert read(os.path.join(cg, f)) == v, f
    check_limits()
    d.call("UpdateContainerResources", pb().UpdateContainerResourcesRequest(
        container_id=cid, linux=pb().LinuxContainerResources(memory_limit_in_bytes=96 << 20)))
    limits["memory.max"] = str(96 << 20)
    check_limits()
    assert show(scope, "MemoryMax")["MemoryMax"] == str(96 << 20)

    # systemd realizes its units again on a reload: Delegate=yes and the properties keep crisp's values.
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    assert show(scope, "ActiveState")["ActiveState"] == "active"
    wait_oom_group(cg)
    check_limits()
    # Nor does the reload open the devices crisp's filter denies.
    r = d.call("ExecSync", pb().ExecSyncRequest(container_id=cid, timeout=10, cmd=[
        "sh", "-c", "mknod /dev/xkmsg c 1 11 && head -c1 /dev/xkmsg"]), timeout=40)
    assert r.exit_code != 0 and b"Operation not permitted" in r.stderr, r.stderr
    assert read("/proc/%d/cgroup" % pid) == "0::" + props["ControlGroup"]

    # A restart of crispd finds the unit again by its name.
    assert d.stop() == 0
    d.start()
    assert d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid)).status.state == \
        pb().CONTAINER_RUNNING
    assert show(scope, "ActiveState")["ActiveState"] == "active"
    # The new crispd learnt the kept values from the record: a reload now is answered too.
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    wait_oom_group(cg)
    check_limits()
    d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0), timeout=30)
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=30)
    assert not os.path.exists(cg)
    assert scope not in crisp_units()


@needs_v2
def test_pids_limit_and_created_but_never_started(sd_pod):
    d, pod_id, cfg, image, slice_name, path, top = sd_pod
    cid = create(d, pod_id, cfg, image, "never")
    scope = "crisp-%s.scope" % cid
    cg = CGROOT + path + "/" + scope
    # crisp-hold keeps the scope (systemd refuses an empty one) until the container goes.
    assert show(scope, "ActiveState")["ActiveState"] == "active"
    procs = read(cg + "/cgroup.procs").split()
    assert len(procs) == 1 and read("/proc/%s/comm" % procs[0]) == "crisp-hold"
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=30)
    assert not os.path.exists(cg) and crisp_units() == []
    deadline = time.monotonic() + 10
    while os.path.exists("/proc/" + procs[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists("/proc/" + procs[0])


@needs_v2
def test_exited_container_keeps_its_cgroup_until_removed(sd_pod):
    d, pod_id, cfg, image, slice_name, path, top = sd_pod
    config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name="quick"), image=pb().ImageSpec(image=image),
                                  command=["true"], log_path="quick.log")
    cid = d.call("CreateContainer", pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                                sandbox_config=cfg), timeout=60).container_id
    start(d, cid)
    deadline = time.monotonic() + 30
    while d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid)).status.state != \
            pb().CONTAINER_EXITED:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # The monitor reads memory.events after the exit (OOMKilled): the scope must still be there.
    scope = "crisp-%s.scope" % cid
    assert show(scope, "ActiveState")["ActiveState"] == "active"
    assert os.path.exists(CGROOT + path + "/" + scope + "/memory.events")
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=30)
    assert scope not in crisp_units()


@needs_v2
def test_default_parent_slice(crispd_factory):
    top = "crispe2e" + uuid.uuid4().hex[:8]
    d = crispd_factory(config={"cgroup_driver": "systemd", "default_cgroup_parent": "/%s.slice" % top})
    pod_id = run_pod(d, pod_config("dflt", host_network=True))
    unit = "%s-pod%s.slice" % (top, pod_id[:12])
    assert show(unit, "ActiveState", "ControlGroup") == {
        "ActiveState": "active", "ControlGroup": "/%s.slice/%s" % (top, unit)}
    remove_pod(d, pod_id)
    assert not os.path.exists(CGROOT + "/%s.slice" % top)


@needs_v1
def test_v1_device_rules_survive_reload_and_update(sd_pod):
    """On v1 systemd writes a scope's devices list itself whenever it applies the scope's properties,
    "a *:* rwm" unless it was given DevicePolicy=strict and the container's rules as DeviceAllow."""
    d, pod_id, cfg, image, slice_name, path, top = sd_pod
    cid = create(d, pod_id, cfg, image, "dev")
    start(d, cid)
    scope = "crisp-%s.scope" % cid
    devices_list = CGROOT + "/devices" + path + "/" + scope + "/devices.list"
    assert show(scope, "DevicePolicy")["DevicePolicy"] == "strict"

    def check_denied():
        listed = read(devices_list).splitlines()
        assert "a *:* rwm" not in listed and "c 1:3 rwm" in listed and "c 136:* rwm" in listed, listed
        r = d.call("ExecSync", pb().ExecSyncRequest(container_id=cid, timeout=10, cmd=[
            "sh", "-c", "[ -e /dev/xkmsg ] || mknod /dev/xkmsg c 1 11; head -c1 /dev/xkmsg"]), timeout=40)
        assert r.exit_code != 0 and b"Operation not permitted" in r.stderr, r.stderr
        r = d.call("ExecSync", pb().ExecSyncRequest(container_id=cid, timeout=10, cmd=[
            "sh", "-c", "head -c4 /dev/zero | wc -c"]), timeout=40)
        assert r.exit_code == 0 and r.stdout.strip() == b"4", r.stderr
    check_denied()
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    check_denied()
    d.call("UpdateContainerResources", pb().UpdateContainerResourcesRequest(
        container_id=cid, linux=pb().LinuxContainerResources(memory_limit_in_bytes=64 << 20)))
    assert read(CGROOT + "/memory" + path + "/" + scope + "/memory.limit_in_bytes") == str(64 << 20)
    check_denied()
    d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0), timeout=30)
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=30)
    assert scope not in crisp_units()
