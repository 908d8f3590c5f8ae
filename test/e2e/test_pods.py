"""Pod sandboxes through the real socket: pinned namespaces with no pause image, Debian's CNI plugins,
DNS and hostname files, sysctls, cgroups, and undo on every failure."""
import concurrent.futures
import os
import signal
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest

from conftest import pb
from podlib import (BridgeNetwork, in_pod, mounts_under, pod_config, pod_dir, pod_status, remove_pod, run_pod,
                    stop_pod, veths)


@pytest.fixture
def net_crispd(crispd):
    net = BridgeNetwork(crispd.cni_dir)
    before = veths()
    yield crispd, net
    try:
        for p in list_pods(crispd):
            remove_pod(crispd, p.id)
        assert net.leases() == []
        assert veths() == before
        assert mounts_under(crispd.state) == []
    finally:
        net.cleanup()                                    # even when a check failed: no bridge or IPAM dir stays


def list_pods(d, **filter_kw):
    f = pb().PodSandboxFilter(**filter_kw) if filter_kw else None
    return list(d.call("ListPodSandbox", pb().ListPodSandboxRequest(filter=f)).items)


V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def cgroup_dirs(path):
    """The controllers path exists in (on v2, all or none: it is one directory)."""
    return [c for c in ("cpu", "memory", "pids")
            if os.path.isdir("/sys/fs/cgroup%s" % path if V2 else "/sys/fs/cgroup/%s%s" % (c, path))]


def cg_value(path, v1_ctrl, v1_name, v2_name):
    """An interface file's first number: v2's cpu.max is "<quota> <period>"."""
    with open("/sys/fs/cgroup%s/%s" % (path, v2_name) if V2 else
              "/sys/fs/cgroup/%s%s/%s" % (v1_ctrl, path, v1_name)) as f:
        return int(f.read().split()[0])


def test_host_network_pod_lifecycle(crispd):
    pod = run_pod(crispd, pod_config("hostnet", host_network=True, labels={"app": "x"}))
    st = pod_status(crispd, pod).status
    assert st.state == pb().SANDBOX_READY
    assert st.metadata.name == "hostnet" and st.labels["app"] == "x"
    assert st.network.ip == ""
    assert st.linux.namespaces.options.network == pb().NamespaceMode.Value("NODE")
    d = pod_dir(crispd, pod)
    assert not os.path.exists(os.path.join(d, "ns", "net"))
    assert os.path.exists(os.path.join(d, "ns", "ipc"))
    assert cgroup_dirs(crispd.pod_cgroup(pod)) == ["cpu", "memory", "pids"]
    stop_pod(crispd, pod)
    assert pod_status(crispd, pod).status.state == pb().SANDBOX_NOTREADY
    stop_pod(crispd, pod)  # idempotent
    remove_pod(crispd, pod)
    remove_pod(crispd, pod)  # idempotent
    assert not os.path.exists(d)
    assert cgroup_dirs(crispd.cgroup_parent) == []
    with pytest.raises(grpc.RpcError) as e:
        pod_status(crispd, pod)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_pods_reach_each_other_and_dns_and_hostname(net_crispd):
    d, net = net_crispd
    dns = pb().DNSConfig(servers=["10.96.0.10", "fd00::10"], searches=["default.svc.cluster.local", "svc.cluster.local"],
                         options=["ndots:5"])
    a = run_pod(d, pod_config("a", hostname="pod-a", dns=dns))
    b = run_pod(d, pod_config("b", hostname="pod-b"))
    ip_a = pod_status(d, a).status.network.ip
    ip_b = pod_status(d, b).status.network.ip
    assert ip_a.startswith(net.subnet.rsplit(".", 2)[0]) and ip_b and ip_a != ip_b
    assert in_pod(d, a, "hostname").stdout.strip() == "pod-a"
    with open(os.path.join(pod_dir(d, a), "resolv.conf")) as f:
        resolv = f.read()
    assert "nameserver 10.96.0.10" in resolv and "nameserver fd00::10" in resolv
    assert "search default.svc.cluster.local svc.cluster.local" in resolv and "options ndots:5" in resolv
    with open(os.path.join(pod_dir(d, a), "hosts")) as f:
        assert "%s\tpod-a" % ip_a in f.read()
    server = subprocess.Popen(["nsenter", "--net=" + os.path.join(pod_dir(d, a), "ns", "net"), sys.executable, "-c",
                               "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
                               "s.bind(('0.0.0.0', 7070)); s.listen(); c,_=s.accept(); c.sendall(b'hello from a'); c.close()"])
    try:
        got = None
        for _ in range(50):
            r = in_pod(d, b, sys.executable, "-c",
                       "import socket; s=socket.create_connection(('%s', 7070), 2); print(s.recv(100).decode())" % ip_a,
                       check=False)
            if r.returncode == 0:
                got = r.stdout.strip()
                break
            time.sleep(0.1)
        assert got == "hello from a"
    finally:
        server.kill()
        server.wait()
    v = pod_status(d, a, verbose=True)
    import json
    info = json.loads(v.info["info"])
    assert info["netnsPath"].endswith("/ns/net") and info["cniResult"]["ips"]


def test_host_port_answers_on_localhost(net_crispd):
    d, net = net_crispd
    pod = run_pod(d, pod_config("web", ports=[(8080, 18080 + os.getpid() % 1000, "")]))
    host_port = 18080 + os.getpid() % 1000
    server = subprocess.Popen(["nsenter", "--net=" + os.path.join(pod_dir(d, pod), "ns", "net"), sys.executable,
                               "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", pod_dir(d, pod)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = None
        for _ in range(100):
            try:
                body = urllib.request.urlopen("http://127.0.0.1:%d/hostname" % host_port, timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None and body.strip() != b""
    finally:
        server.kill()
        server.wait()


def test_sysctls_take_effect(net_crispd):
    d, _ = net_crispd
    pod = run_pod(d, pod_config("sys", sysctls={"net.ipv4.ip_unprivileged_port_start": "123",
                                                "kernel.shmmax": "7777777"}))
    assert in_pod(d, pod, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").stdout.strip() == "123"
    assert in_pod(d, pod, "cat", "/proc/sys/kernel/shmmax", net=False, uts=False, ipc=True).stdout.strip() == "7777777"
    with open("/proc/sys/kernel/shmmax") as f:
        assert f.read().strip() != "7777777"


@pytest.mark.parametrize("sysctls,host_network,message", [
    ({"kernel.panic": "1"}, False, "not namespaced"),
    ({"net.ipv4.ip_forward": "1"}, True, "host network"),
])
def test_bad_sysctls_are_invalid_argument(crispd, sysctls, host_network, message):
    with pytest.raises(grpc.RpcError) as e:
        run_pod(crispd, pod_config("bad", sysctls=sysctls, host_network=host_network))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in e.value.details()
    assert list_pods(crispd) == []
    assert os.listdir(os.path.join(crispd.state, "pods")) == []


def test_host_ipc_pod_has_no_own_ipc_or_shm(crispd):
    pod = run_pod(crispd, pod_config("hostipc", host_network=True, host_ipc=True))
    d = pod_dir(crispd, pod)
    assert not os.path.exists(os.path.join(d, "ns", "ipc"))
    assert mounts_under(d) == []
    remove_pod(crispd, pod)


def test_shared_pid_namespace_gets_crisp_init(crispd):
    pod = run_pod(crispd, pod_config("pidns", host_network=True, shared_pid=True))
    info = __import__("json").loads(pod_status(crispd, pod, verbose=True).info["info"])
    pid = info["pid"]
    assert pid > 0
    with open("/proc/%d/comm" % pid) as f:
        assert f.read().strip() == "crisp-pod-init"
    with open("/proc/%d/status" % pid) as f:
        nspid = [l for l in f if l.startswith("NSpid:")][0].split()
    assert nspid[-1] == "1"
    # It joined a leaf of its own below the pod's cgroup in every hierarchy, itself: on cgroup v2 no
    # process may sit in a cgroup whose controllers the containers' cgroups below it use.
    with open("/proc/%d/cgroup" % pid) as f:
        paths = {l.split(":", 2)[1]: l.split(":", 2)[2].strip() for l in f}
    # Named as a container's: "ctr-<id12>", or a transient scope with the systemd driver.
    leaves = (info["cgroupPath"] + "/ctr-" + pod[:12], info["cgroupPath"] + "/crisp-%s.scope" % pod)
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    try:
        for ctrl in ("memory", "pids", "cpu,cpuacct", "cpu", "devices") + (("",) if v2 else ()):
            if ctrl in paths:
                assert paths[ctrl] in leaves, (ctrl, paths[ctrl])
    finally:
        remove_pod(crispd, pod)
    assert not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z"


def test_duplicate_key_is_refused_and_makes_nothing(crispd):
    cfg = pod_config("dup", host_network=True)
    pod = run_pod(crispd, cfg)
    with pytest.raises(grpc.RpcError) as e:
        run_pod(crispd, cfg)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS and pod in e.value.details()
    assert [p.id for p in list_pods(crispd)] == [pod]
    assert os.listdir(os.path.join(crispd.state, "pods")) == [pod]
    remove_pod(crispd, pod)
    # Once removed the key is free again.
    remove_pod(crispd, run_pod(crispd, cfg))


def test_failing_cni_plugin_leaves_nothing(crispd):
    bin_dir = os.path.join(crispd.dir, "bin")
    os.mkdir(bin_dir)
    for name in ("loopback", "bridge", "host-local", "portmap"):
        os.symlink("/usr/lib/cni/" + name, os.path.join(bin_dir, name))
    failing = os.path.join(bin_dir, "failing")
    with open(failing, "w") as f:
        f.write('#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = DEL ] && exit 0\n'
                'echo \'{"cniVersion":"1.0.0","code":11,"msg":"no more addresses","details":"pool exhausted"}\'\n'
                'exit 1\n')
    os.chmod(failing, 0o755)
    with open(os.path.join(crispd.cni_dir, "10-fail.conflist"), "w") as f:
        f.write('{"cniVersion": "1.0.0", "name": "fail", "plugins": [{"type": "failing"}]}')
    assert crispd.stop() == 0
    crispd.write_config(dict(crispd.base_config, cni={"conf_dir": crispd.cni_dir, "bin_dirs": [bin_dir]}))
    crispd.start()
    before = veths()
    with pytest.raises(grpc.RpcError) as e:
        run_pod(crispd, pod_config("failing"))
    assert "no more addresses" in e.value.details() and "pool exhausted" in e.value.details()
    assert list_pods(crispd) == []
    assert os.listdir(os.path.join(crispd.state, "pods")) == []
    assert mounts_under(crispd.state) == []
    assert veths() == before
    assert cgroup_dirs(crispd.cgroup_parent) == []


def test_network_ready_follows_config(crispd):
    def ready():
        conds = {c.type: c for c in crispd.call("Status", pb().StatusRequest()).status.conditions}
        return conds["NetworkReady"].status
    assert ready() is False
    net = BridgeNetwork(crispd.cni_dir)
    try:
        assert ready() is True
    finally:
        net.cleanup()


def test_stop_and_remove_twice_and_concurrently(net_crispd):
    d, _ = net_crispd
    pods = [run_pod(d, pod_config("c%d" % i)) for i in range(3)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: stop_pod(d, p), pods * 3))
        assert all(pod_status(d, p).status.state == pb().SANDBOX_NOTREADY for p in pods)
        list(pool.map(lambda p: remove_pod(d, p), pods * 3))
    assert list_pods(d) == []


def test_list_filters(crispd):
    a = run_pod(crispd, pod_config("la", host_network=True, labels={"tier": "web", "env": "prod"}))
    b = run_pod(crispd, pod_config("lb", host_network=True, labels={"tier": "db"}))
    stop_pod(crispd, b)
    assert {p.id for p in list_pods(crispd)} == {a, b}
    assert [p.id for p in list_pods(crispd, id=a[:10])] == [a]
    ready = pb().PodSandboxStateValue(state=pb().SANDBOX_READY)
    assert [p.id for p in list_pods(crispd, state=ready)] == [a]
    assert [p.id for p in list_pods(crispd, label_selector={"tier": "db"})] == [b]
    assert list_pods(crispd, label_selector={"tier": "web", "env": "dev"}) == []
    remove_pod(crispd, a)
    remove_pod(crispd, b)


def test_pods_survive_crispd_restart(crispd):
    pod = run_pod(crispd, pod_config("survivor", host_network=True))
    assert crispd.stop() == 0
    crispd.start()
    st = pod_status(crispd, pod).status
    assert st.state == pb().SANDBOX_READY and st.metadata.name == "survivor"
    remove_pod(crispd, pod)
    assert os.listdir(os.path.join(crispd.state, "pods")) == []


def test_cgroup_parent_and_resources(crispd):
    parent = crispd.cgroup_parent + "/burstable/podabc"
    cfg = pod_config("res", host_network=True, cgroup_parent=parent)
    cfg.linux.resources.CopyFrom(pb().LinuxContainerResources(cpu_period=100000, cpu_quota=50000,
                                                               memory_limit_in_bytes=256 << 20))
    cfg.linux.overhead.CopyFrom(pb().LinuxContainerResources(memory_limit_in_bytes=16 << 20))
    pod = run_pod(crispd, cfg)
    assert cg_value(parent, "memory", "memory.limit_in_bytes", "memory.max") == (256 + 16) << 20
    assert cg_value(parent, "cpu", "cpu.cfs_quota_us", "cpu.max") == 50000
    # A resize: kubelet sends the pod's new total and its overhead.
    crispd.call("UpdatePodSandboxResources", pb().UpdatePodSandboxResourcesRequest(
        pod_sandbox_id=pod, resources=pb().LinuxContainerResources(cpu_period=100000, cpu_quota=80000,
                                                                   memory_limit_in_bytes=512 << 20),
        overhead=pb().LinuxContainerResources(memory_limit_in_bytes=16 << 20)))
    assert cg_value(parent, "memory", "memory.limit_in_bytes", "memory.max") == (512 + 16) << 20
    assert cg_value(parent, "cpu", "cpu.cfs_quota_us", "cpu.max") == 80000
    with pytest.raises(grpc.RpcError) as e:
        crispd.call("UpdatePodSandboxResources", pb().UpdatePodSandboxResourcesRequest(pod_sandbox_id="f" * 64))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    remove_pod(crispd, pod)
    assert cgroup_dirs(crispd.cgroup_parent) == []


def test_systemd_driver_needs_systemd(crispd_factory):
    """Without systemd the systemd driver can't make units: crispd refuses to start, saying why. Where
    systemd runs, test_cgroup_systemd.py covers the driver."""
    with open("/proc/1/comm") as f:
        if f.read().strip() == "systemd":
            pytest.skip("systemd runs here")
    d = crispd_factory(config={"cgroup_driver": "systemd"}, start=False)
    d.start(wait=False)
    assert d.proc.wait(timeout=20) != 0
    assert "systemd cgroup driver" in d.log() and "can't reach systemd over D-Bus" in d.log()


@pytest.mark.parametrize("hostname,dns,message", [
    ("a\nb", None, "invalid hostname"),
    ("h" * 65, None, "invalid hostname"),
    ("ok", ["not-an-ip"], "invalid DNS server"),
])
def test_bad_hostname_or_dns_on_a_cni_network_makes_nothing(net_crispd, hostname, dns, message):
    """Checked before the CNI ADD: crispd once crashed undoing a network it had added for such a pod."""
    d, net = net_crispd
    cfg = pod_config("bad-names", hostname=hostname,
                     dns=pb().DNSConfig(servers=dns) if dns else None)
    with pytest.raises(grpc.RpcError) as e:
        run_pod(d, cfg)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in e.value.details()
    assert len(e.value.details()) < 300                  # the echo of the bad value is bounded
    assert d.proc.poll() is None
    assert list_pods(d) == [] and os.listdir(os.path.join(d.state, "pods")) == []
    assert net.leases() == [] and cgroup_dirs(d.cgroup_parent) == []


KUBELET_CGROUP_CTRLS = ("cpu", "cpuacct", "memory", "pids", "cpuset")
OTHER_CGROUP_CTRLS = ("devices", "freezer", "blkio")


def kubelet_make_cgroups(rel):
    """Makes rel's levels as kubelet's cgroupfs driver does on v1: only in the controllers it manages,
    with each new cpuset given its parent's cpus and mems. Returns the dirs made, deepest first."""
    made = []
    for ctrl in KUBELET_CGROUP_CTRLS:
        path = "/sys/fs/cgroup/" + ctrl
        for part in rel.strip("/").split("/"):
            parent, path = path, path + "/" + part
            if os.path.isdir(path):
                continue
            os.mkdir(path)
            made.insert(0, path)
            if ctrl == "cpuset":
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(parent, f)) as src, open(os.path.join(path, f), "w") as dst:
                        dst.write(src.read())
    return made


def test_kubelet_made_pod_cgroup_levels_stay(crispd):
    """A pod whose cgroup parent kubelet made (kubepods/burstable/pod<uid>, v1, not in devices, freezer
    or blkio): crisp removes only the levels it made itself, per hierarchy, never kubelet's."""
    if not os.path.isdir("/sys/fs/cgroup/devices") or os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("needs cgroup v1 with a devices hierarchy")
    import imagelib as il
    uid = "0b5e7c1e-kubelet-pod"
    qos = crispd.cgroup_parent + "/kubepods/burstable"
    parent = "%s/pod%s" % (qos, uid)
    made = kubelet_make_cgroups(parent)
    registry = il.Registry()
    try:
        il.build_busybox_image(registry, "library/busybox", "qos", cmd=("/bin/sh", "-c", "sleep 300"))
        ref = "%s/library/busybox:qos" % registry.host
        crispd.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=ref)), timeout=120)
        cfg = pod_config("kubelet-made", uid=uid, host_network=True, cgroup_parent=parent)
        pod = run_pod(crispd, cfg)
        for ctrl in OTHER_CGROUP_CTRLS:
            assert os.path.isdir("/sys/fs/cgroup/%s%s" % (ctrl, parent)), ctrl
        config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name="c"), image=pb().ImageSpec(image=ref))
        cid = crispd.call("CreateContainer", pb().CreateContainerRequest(
            pod_sandbox_id=pod, config=config, sandbox_config=cfg), timeout=60).container_id
        crispd.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)
        assert os.path.isdir("/sys/fs/cgroup/pids%s/ctr-%s" % (parent, cid[:12]))
        stop_pod(crispd, pod)
        remove_pod(crispd, pod)
        for ctrl in KUBELET_CGROUP_CTRLS:
            pod_dir_ = "/sys/fs/cgroup/%s%s" % (ctrl, parent)
            assert os.path.isdir(pod_dir_), ctrl
            # The container's cgroup was crisp's: it went.
            assert [d for d in os.listdir(pod_dir_) if os.path.isdir(os.path.join(pod_dir_, d))] == [], ctrl
        for ctrl in OTHER_CGROUP_CTRLS:
            assert not os.path.exists("/sys/fs/cgroup/%s%s/kubepods" % (ctrl, crispd.cgroup_parent)), ctrl
    finally:
        for p in list_pods(crispd):
            remove_pod(crispd, p.id)
        registry.cleanup()
        for path in made:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass  # only if crisp took kubelet's levels: the asserts above have failed


def test_verbose_status_is_json_with_the_pod_spec(crispd):
    import json
    odd = 'a "quoted" \\ value\n'
    pod = run_pod(crispd, pod_config("verbose", host_network=True, shared_pid=True, labels={"l": odd},
                                     annotations={"a": odd}, hostname="verbose-host"))
    try:
        info = json.loads(pod_status(crispd, pod, verbose=True).info["info"])
        assert info["sandboxID"] == pod and info["labels"]["l"] == odd
        spec = info["runtimeSpec"]
        assert spec["annotations"]["a"] == odd
        assert spec["linux"]["cgroupsPath"] == info["cgroupPath"]
        types = {n["type"]: n.get("path") for n in spec["linux"]["namespaces"]}
        assert types["pid"].endswith("/ns/pid") and types["uts"].endswith("/ns/uts")
        assert "network" not in types  # the host's
    finally:
        remove_pod(crispd, pod)


def test_verbose_status_survives_an_odd_cgroup_parent(crispd):
    import json
    cfg = pod_config("odd-parent", host_network=True, cgroup_parent='/crisp-"odd"\\parent')
    try:
        pod = run_pod(crispd, cfg)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
        return
    try:
        info = json.loads(pod_status(crispd, pod, verbose=True).info["info"])
        assert '"odd"\\parent' in info["cgroupPath"]
    finally:
        remove_pod(crispd, pod)


@pytest.mark.parametrize("log_directory,message", [
    ("relative/logs", 'log_directory "relative/logs" is not an absolute path'),
    ("/var/log/pods/../../../tmp/x", 'log_directory "/var/log/pods/../../../tmp/x" has a ".." component'),
])
def test_bad_log_directory_is_refused(crispd, log_directory, message):
    """Issue 12 item 9: a pod's containers log below its log directory, which must be plain and absolute."""
    cfg = pod_config("bad-logdir", host_network=True)
    cfg.log_directory = log_directory
    with pytest.raises(grpc.RpcError) as e:
        run_pod(crispd, cfg)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in e.value.details()
    assert list_pods(crispd) == [] and os.listdir(os.path.join(crispd.state, "pods")) == []
    assert cgroup_dirs(crispd.cgroup_parent) == []


@pytest.mark.parametrize("where", ["name", "namespace", "hostname", "label"])
def test_nul_byte_in_a_string_is_refused(crispd, where):
    """Issue 12 item 10: protobuf-c would hand "a\\0b" over as "a"."""
    cfg = pod_config("nul", host_network=True)
    if where == "name":
        cfg.metadata.name = "a\0b"
    elif where == "namespace":
        cfg.metadata.namespace = "a\0b"
    elif where == "hostname":
        cfg.hostname = "a\0b"
    else:
        cfg.labels["k"] = "a\0b"
    with pytest.raises(grpc.RpcError) as e:
        run_pod(crispd, cfg)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "has a NUL byte" in e.value.details()
    assert list_pods(crispd) == [] and os.listdir(os.path.join(crispd.state, "pods")) == []
    assert cgroup_dirs(crispd.cgroup_parent) == []


def test_bad_pod_cpuset_is_refused(crispd):
    cfg = pod_config("bad-cpuset", host_network=True)
    cfg.linux.resources.CopyFrom(pb().LinuxContainerResources(cpuset_cpus="0-1000"))
    with pytest.raises(grpc.RpcError) as e:
        run_pod(crispd, cfg)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "not all online" in e.value.details()
    assert list_pods(crispd) == [] and cgroup_dirs(crispd.cgroup_parent) == []


def test_pod_under_an_empty_cpuset_parent_can_start_containers(crispd):
    """Issue 12 item 7: a cgroup parent another request has just made in the cpuset hierarchy has empty
    cpus and mems; the pod below it used to copy them, and no container could join it (ENOSPC)."""
    if not os.path.isdir("/sys/fs/cgroup/cpuset") or os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("needs cgroup v1 with a cpuset hierarchy")
    import imagelib as il
    parent_rel = crispd.cgroup_parent + "/racing-qos"
    made = kubelet_make_cgroups(crispd.cgroup_parent)
    empty = "/sys/fs/cgroup/cpuset" + parent_rel
    os.mkdir(empty)  # made by "someone else", not filled yet
    registry = il.Registry()
    try:
        with open(empty + "/cpuset.cpus") as f:
            assert f.read().strip() == ""
        il.build_busybox_image(registry, "library/busybox", "cpuset", cmd=("/bin/sh", "-c", "sleep 300"))
        ref = "%s/library/busybox:cpuset" % registry.host
        crispd.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=ref)), timeout=120)
        parent = parent_rel + "/podcpuset"
        cfg = pod_config("cpuset-race", host_network=True, cgroup_parent=parent)
        pod = run_pod(crispd, cfg)
        with open("/sys/fs/cgroup/cpuset/cpuset.cpus") as f:
            top = f.read().strip()
        for level in (empty, "/sys/fs/cgroup/cpuset" + parent):
            with open(level + "/cpuset.cpus") as f:
                assert f.read().strip() == top, level
        config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name="c"), image=pb().ImageSpec(image=ref))
        cid = crispd.call("CreateContainer", pb().CreateContainerRequest(
            pod_sandbox_id=pod, config=config, sandbox_config=cfg), timeout=60).container_id
        crispd.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)
        st = crispd.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid)).status
        assert st.state == pb().CONTAINER_RUNNING
        stop_pod(crispd, pod)
        remove_pod(crispd, pod)
        assert not os.path.exists("/sys/fs/cgroup/cpuset" + parent)
        assert os.path.isdir(empty)  # not crisp's: it stays
    finally:
        for p in list_pods(crispd):
            remove_pod(crispd, p.id)
        registry.cleanup()
        for path in ["/sys/fs/cgroup/cpuset" + parent_rel] + made:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
