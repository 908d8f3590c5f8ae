"""Fault injection for pods: crispd (the test build) is killed at each named crash point of
RunPodSandbox, StopPodSandbox and RemovePodSandbox, restarted, and must then show a consistent state
(a half-made pod is not listed, a pod that was READY still is and works), remove everything through
CRI, and leave nothing behind: no mount, netns pin, veth, IPAM lease, cgroup, process or file."""
import glob
import json
import os
import random
import subprocess

import pytest

from conftest import pb
from crashlib import arm, expect_crash, leftovers, remove_everything, restart
from podlib import BridgeNetwork, in_pod, mounts_under, pod_config, pod_dir, pod_status, remove_pod, run_pod, stop_pod

# Every step of RunPodSandbox, in order (runtime/sandbox_run.c).
RUN_POINTS = ["pod.after_mkdir", "pod.after_intent", "pod.after_cgroup", "pod.after_shm", "pod.after_namespaces",
              "pod.before_cni_add", "pod.after_cni_add", "pod.after_files", "pod.after_record"]
# runtime/sandbox_teardown.c, as StopPodSandbox and RemovePodSandbox pass them.
STOP_POINTS = ["pod.stop.after_processes", "pod.stop.after_network", "pod.stop.after_namespaces",
               "pod.stop.after_shm"]
REMOVE_POINTS = ["pod.remove.after_containers", "pod.remove.after_mark", "pod.remove.after_processes",
                 "pod.remove.after_network", "pod.remove.after_namespaces", "pod.remove.after_shm",
                 "pod.remove.after_cgroup"]

READY = 0  # runtime.v1.PodSandboxState.SANDBOX_READY


def list_pods(d):
    return list(d.call("ListPodSandbox", pb().ListPodSandboxRequest()).items)


def v1_controllers():
    """Each mounted v1 controller directory once (co-mounted ones are links to one directory)."""
    seen, out = set(), []
    for path in sorted(glob.glob("/sys/fs/cgroup/*")):
        name = os.path.basename(path)
        if name in ("systemd", "unified") or not os.path.isdir(path):
            continue
        key = os.stat(path).st_ino, os.stat(path).st_dev
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def _cgroup_tree_remove(top):
    """Kills what is in the cgroups below top and removes them, deepest first (cleanup after a failure)."""
    for root, dirs, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
        try:
            with open(os.path.join(root, "cgroup.procs")) as f:
                for pid in f.read().split():
                    subprocess.run(["kill", "-9", pid], capture_output=True)
        except OSError:
            pass
    for root, dirs, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
        try:
            os.rmdir(root)
        except OSError:
            pass


def emergency_cleanup(d):
    """What a test that failed may have left: lazily unmounted mounts, killed processes, removed cgroups."""
    for m in sorted(mounts_under(d.dir), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    for ctrl in glob.glob("/sys/fs/cgroup/*"):
        _cgroup_tree_remove(ctrl + d.cgroup_parent)


@pytest.fixture
def env(crispd_factory):
    d = crispd_factory(start=False)
    net = BridgeNetwork(d.cni_dir)
    try:
        yield d, net
    finally:
        try:
            if d.proc is not None and d.proc.poll() is None:
                d.stop()
            emergency_cleanup(d)
        finally:
            net.cleanup()


def victim_config(host_network, cgroup_parent=""):
    port = random.randint(31000, 32000)
    return pod_config("victim", host_network=host_network, shared_pid=True, cgroup_parent=cgroup_parent,
                      ports=() if host_network else [(80, port, "")])


def check_ready_pod(d, pod_id, host_network=False):
    assert pod_status(d, pod_id).status.state == READY
    assert in_pod(d, pod_id, "hostname", net=not host_network, uts=not host_network).returncode == 0
    if not host_network:
        out = in_pod(d, pod_id, "ip", "-o", "-4", "addr", "show", "eth0").stdout
        assert pod_status(d, pod_id).status.network.ip in out


@pytest.mark.parametrize("host_network", [False, True], ids=["cni", "host"])
@pytest.mark.parametrize("point", RUN_POINTS)
def test_crash_in_run(env, point, host_network):
    d, net = env
    if host_network and point == "pod.after_cni_add":
        pytest.skip("a host-network pod has no CNI ADD")
    arm(d, point + "@2")  # the first run (the survivor's) passes the point once
    d.start()
    survivor = run_pod(d, pod_config("survivor", shared_pid=True))
    expect_crash(d, point, lambda: run_pod(d, victim_config(host_network)))
    restart(d)
    listed = {p.id: p for p in list_pods(d)}
    assert survivor in listed
    if point == "pod.after_record":
        # The record was final: the pod exists (kubelet, never answered, finds and removes it).
        assert len(listed) == 2
    else:
        assert list(listed) == [survivor], "a half-made pod is listed"
        assert sorted(os.listdir(os.path.join(d.state, "pods"))) == [survivor]
        assert len(net.leases()) == 1
    check_ready_pod(d, survivor)
    remove_everything(d)
    assert leftovers(d, net) == []


@pytest.mark.parametrize("point", STOP_POINTS)
def test_crash_in_stop(env, point):
    d, net = env
    arm(d, point)
    d.start()
    pod = run_pod(d, victim_config(False))
    expect_crash(d, point, lambda: stop_pod(d, pod))
    restart(d)
    assert [p.id for p in list_pods(d)] == [pod], "kubelet was never told the pod stopped"
    stop_pod(d, pod)
    assert pod_status(d, pod).status.state != READY
    stop_pod(d, pod)  # idempotent
    remove_pod(d, pod)
    assert list_pods(d) == []
    assert leftovers(d, net) == []


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
@pytest.mark.parametrize("point", REMOVE_POINTS)
def test_crash_in_remove(env, point, stopped):
    d, net = env
    arm(d, point)
    d.start()
    pod = run_pod(d, victim_config(False))
    other = run_pod(d, pod_config("other"))
    if stopped:
        stop_pod(d, pod)
    expect_crash(d, point, lambda: remove_pod(d, pod))
    restart(d)
    listed = [p.id for p in list_pods(d)]
    if point == "pod.remove.after_containers":
        assert sorted(listed) == sorted([pod, other]), "nothing of the pod was touched yet"
    else:
        # Recorded as being removed: start-up finished it; kubelet's retry finds it gone.
        assert listed == [other]
        assert not os.path.exists(pod_dir(d, pod))
    remove_pod(d, pod)
    remove_pod(d, pod)  # absent: success
    check_ready_pod(d, other)
    remove_everything(d)
    assert leftovers(d, net) == []


def prepare_kubelet_parent(d, controllers):
    """kubepods/burstable/pod<uid> as kubelet's cgroupfs driver makes it, in the given controllers."""
    rel = d.cgroup_parent + "/kubepods/burstable/pod" + "%08x" % random.getrandbits(32)
    for ctrl in controllers:
        os.makedirs(ctrl + rel)
        if os.path.basename(ctrl) == "cpuset":
            level = ctrl
            for part in rel.strip("/").split("/"):
                parent, level = level, os.path.join(level, part)
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(parent, f)) as src:
                        value = src.read().strip()
                    with open(os.path.join(level, f), "w") as dst:
                        dst.write(value)
    return rel


@pytest.mark.parametrize("prepared", ["all", "kubelet"])
@pytest.mark.parametrize("point", ["pod.after_intent", "pod.after_cgroup", "pod.after_namespaces",
                                   "pod.after_cni_add"])
def test_rollback_keeps_kubelet_cgroups(env, point, prepared):
    """kubelet's levels survive a rollback; levels crisp made itself (in the controllers kubelet leaves
    alone: devices, freezer, blkio) go."""
    d, net = env
    ctrls = v1_controllers()
    if not ctrls:
        pytest.skip("needs cgroup v1")
    skip = ("devices", "freezer", "blkio") if prepared == "kubelet" else ()
    theirs = [c for c in ctrls if not any(s in os.path.basename(c) for s in skip)]
    rel = prepare_kubelet_parent(d, theirs)
    try:
        arm(d, point)
        d.start()
        expect_crash(d, point, lambda: run_pod(d, victim_config(False, cgroup_parent=rel)))
        restart(d)
        assert list_pods(d) == []
        for c in theirs:
            assert os.path.isdir(c + rel), "kubelet's %s%s was removed" % (c, rel)
            assert [e for e in os.listdir(c + rel) if os.path.isdir(os.path.join(c + rel, e))] == []
            with open(c + rel + "/cgroup.procs") as f:
                assert f.read().split() == []
        for c in set(ctrls) - set(theirs):
            assert not os.path.exists(c + d.cgroup_parent + "/kubepods"), "crisp's own levels stayed in " + c
        remove_everything(d)
        left = [x for x in leftovers(d, net) if not x.endswith("/kubepods")]
        assert left == []
    finally:
        for c in theirs:
            for level in (rel, os.path.dirname(rel), os.path.dirname(os.path.dirname(rel))):
                try:
                    os.rmdir(c + level)
                except OSError:
                    pass


@pytest.mark.parametrize("record", ["none", "damaged", "temp-only"])
def test_pod_dir_without_record(env, record):
    """A crash before a pod's first record left only its directory (with whatever got mounted below it):
    start-up unmounts and removes it."""
    d, net = env
    bogus = os.path.join(d.state, "pods", "%064x" % random.getrandbits(256))
    os.makedirs(os.path.join(bogus, "shm"))
    os.makedirs(os.path.join(bogus, "ns"))
    open(os.path.join(bogus, "ns", "net"), "w").close()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", os.path.join(bogus, "shm")], check=True)
    subprocess.run(["mount", "--bind", "/proc/self/ns/net", os.path.join(bogus, "ns", "net")], check=True)
    with open(os.path.join(bogus, "shm", "data"), "w") as f:
        f.write("x")
    if record == "damaged":
        with open(os.path.join(bogus, "pod.json"), "w") as f:
            f.write('{"id": "not')
    elif record == "temp-only":
        with open(os.path.join(bogus, "pod.json.tmp-abcdef"), "w") as f:
            f.write("{}")
    d.start()
    assert mounts_under(bogus) == []
    assert not os.path.exists(bogus)
    assert list_pods(d) == []
    pod = run_pod(d, pod_config("after"))
    check_ready_pod(d, pod)
    remove_everything(d)
    assert leftovers(d, net) == []


def test_del_uses_the_config_add_used(env):
    """A pod made before a restart is torn down with its own saved network config, even after the
    config directory changed: the old IPAM lease is released."""
    d, net = env
    d.start()
    pod = run_pod(d, victim_config(False))
    assert len(net.leases()) == 1
    d.stop()
    with open(net.path) as f:
        conf = json.load(f)
    other_ipam = net.ipam_dir + "-other"
    conf["plugins"][0]["ipam"]["dataDir"] = other_ipam
    with open(net.path, "w") as f:
        json.dump(conf, f)
    try:
        d.start()
        check_ready_pod(d, pod)
        stop_pod(d, pod)
        assert net.leases() == []
        remove_pod(d, pod)
        assert leftovers(d, net) == []
        assert not os.path.isdir(os.path.join(other_ipam, "crisp-test")) or \
            os.listdir(os.path.join(other_ipam, "crisp-test")) in ([], ["lock"])
    finally:
        subprocess.run(["rm", "-rf", other_ipam])


def test_ready_pods_survive_restart_and_go(env):
    """Pods that were READY before a kill -9 are still READY after it, work, and stop and go."""
    d, net = env
    d.start()
    pods = [run_pod(d, pod_config("p%d" % i, shared_pid=i % 2 == 0, host_network=i == 2)) for i in range(3)]
    d.proc.kill()
    d.proc.wait()
    d.channel = None
    d.start()
    assert sorted(p.id for p in list_pods(d)) == sorted(pods)
    for i, p in enumerate(pods):
        check_ready_pod(d, p, host_network=i == 2)
    remove_everything(d)
    assert leftovers(d, net) == []
