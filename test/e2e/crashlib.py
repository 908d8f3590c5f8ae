"""The fault-injection suite's tools: crash crispd (the test build) at a named crash point
(CRISP_CRASH_AT, see server/test_hooks.h), restart it, remove everything through CRI, and list what
of crisp's is still on the machine."""
import glob
import os
import signal
import time

import grpc

from conftest import pb
from podlib import mounts_under


def arm(d, point):
    """The next start of d dies at point (NAME or NAME@N)."""
    d.env["CRISP_CRASH_AT"] = point


def disarm(d):
    d.env.pop("CRISP_CRASH_AT", None)


def expect_crash(d, point, call, timeout=60):
    """call() must fail because crispd died at point; returns once the process is gone."""
    try:
        call()
    except grpc.RpcError as e:
        assert e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
                            grpc.StatusCode.INTERNAL), e
    else:
        raise AssertionError("call succeeded: crispd did not crash at " + point)
    rc = d.proc.wait(timeout)
    assert rc == -signal.SIGKILL, "crispd exited %d, not by the crash point: %s" % (rc, d.log()[-2000:])
    assert "crisp-test: crash point " + point.split("@")[0] in d.log()
    if d.channel is not None:
        d.channel.close()
        d.channel = None


def restart(d):
    disarm(d)
    d.start()


def remove_everything(d, timeout=60):
    """What kubelet does to a node it drains: stop and remove every container and pod."""
    for c in d.call("ListContainers", pb().ListContainersRequest()).containers:
        d.call("StopContainer", pb().StopContainerRequest(container_id=c.id, timeout=0), timeout=timeout)
        d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=c.id), timeout=timeout)
    for p in d.call("ListPodSandbox", pb().ListPodSandboxRequest()).items:
        d.call("StopPodSandbox", pb().StopPodSandboxRequest(pod_sandbox_id=p.id), timeout=timeout)
        d.call("RemovePodSandbox", pb().RemovePodSandboxRequest(pod_sandbox_id=p.id), timeout=timeout)


def _entries(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def _pids_in(cgroup_parent):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % pid) as f:
                text = f.read()
            with open("/proc/%s/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if any(line.split(":", 2)[2].startswith(cgroup_parent + "/") for line in text.splitlines()):
            found.append(int(pid))
    return found


def _monitors_of(d):
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"crisp-monitor") and any(d.dir.encode() in a for a in argv):
            found.append(int(pid))
    return found


def leftovers(d, net=None, wait=5.0):
    """Everything of d's crisp still on the machine after remove_everything: mounts (rootfs overlays,
    /dev/shm, namespace pins), pod and container state, writable layers, cgroups below the test's
    parent, processes in them, monitors, and with a BridgeNetwork its IP leases and the veths on its
    bridge. Processes get wait seconds to go (a killed workload is reaped asynchronously)."""
    deadline = time.monotonic() + wait
    while True:
        left = ["mount " + m for m in mounts_under(d.dir)]
        left += ["pod state " + n for n in _entries(os.path.join(d.state, "pods"))]
        left += ["container state " + n for n in _entries(os.path.join(d.state, "containers"))]
        left += ["writable layer " + n for n in _entries(os.path.join(d.root, "containers"))]
        for ctrl in glob.glob("/sys/fs/cgroup/*"):
            base = ctrl + d.cgroup_parent
            left += ["cgroup %s/%s" % (os.path.basename(ctrl), n)
                     for n in _entries(base) if os.path.isdir(os.path.join(base, n))]
        left += ["process %d" % p for p in _pids_in(d.cgroup_parent)]
        left += ["monitor %d" % p for p in _monitors_of(d)]
        if net is not None:
            left += ["lease " + l for l in net.leases()]
            out = os.popen("ip -o link show master %s 2>/dev/null" % net.bridge).read()
            left += ["veth " + l.split(":")[1].strip() for l in out.splitlines()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)
