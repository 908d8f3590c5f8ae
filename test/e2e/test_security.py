"""Security contexts enforced by the kernel: users and groups, setuid with no_new_privs, privileged
containers, the device cgroup, and namespace modes (host network, IPC and PID; a shared pod PID
namespace; TARGET). Checked from inside with id, /proc/self/status and /proc/self/ns."""
import os
import subprocess
import tempfile
import time

import grpc
import pytest

import imagelib as il
from conftest import TMP_PREFIX, pb
from podlib import BridgeNetwork, pod_config, remove_pod, run_pod
from test_containers import create, exec_sync, log_lines, start, status, status_pid

GROUP = "root:x:0:\napp:x:1000:\nnobody:x:65534:\nwheel:x:10:root,app\naudio:x:29:other,app\nstaff:x:50:other\n"
EUID_C = b'#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("%d\\n",(int)geteuid());return 0;}\n'
# keyctl needs no capability, and Docker's default profile denies it: what tells the profiles apart.
KEYCTL_C = b"""#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void){long r=syscall(SYS_keyctl,0,-3,0);printf("%d\\n",r<0?errno:0);return 0;}
"""
def ns_mode(name):
    return pb().NamespaceMode.Value(name)


def static_binary(source):
    """A static program built from C source, for the test image."""
    d = tempfile.mkdtemp(prefix=TMP_PREFIX + "cc-")
    try:
        with open(os.path.join(d, "p.c"), "wb") as f:
            f.write(source)
        subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(d, "p"), os.path.join(d, "p.c")],
                       check=True, capture_output=True, timeout=120)
        with open(os.path.join(d, "p"), "rb") as f:
            return f.read()
    finally:
        subprocess.run(["rm", "-rf", d])


@pytest.fixture(scope="module")
def image():
    r = il.Registry()
    # A hand-made layer keeps the setuid bit exactly (umoci's repack does not).
    base = [m for m in il.busybox_members() if m.name != "etc/group"]
    extra = [il.file("/etc/group", GROUP), il.file("/bin/euid", static_binary(EUID_C), 0o4755),
             il.file("/bin/keyctl-probe", static_binary(KEYCTL_C), 0o755)]
    il.build_image_from_layers(r, "library/secure", "v1", [base, extra],
                               config={"cmd": ["sleep", "1000"], "env": [il.DEFAULT_PATH_ENV]})
    yield "%s/library/secure:v1" % r.host
    r.cleanup()


def make_pod(d, image, name, privileged=False, host_pid=False, host_ipc=False, host_network=True, shared_pid=False):
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    cfg = pod_config(name, host_network=host_network, host_ipc=host_ipc, shared_pid=shared_pid)
    sc = cfg.linux.security_context
    sc.privileged = privileged
    if host_pid:
        sc.namespace_options.pid = ns_mode("NODE")
    cfg.log_directory = os.path.join(d.dir, "logs-" + name)
    os.makedirs(cfg.log_directory, exist_ok=True)
    return run_pod(d, cfg), cfg


@pytest.fixture
def pod(crispd, image):
    pod_id, cfg = make_pod(crispd, image, "sec")
    yield crispd, pod_id, cfg, image
    remove_pod(crispd, pod_id)


def run(pod, name="c", security=None, command=("sleep", "1000")):
    d, pod_id, cfg, image = pod
    cid = create(d, pod_id, cfg, image, name=name, log=name + ".log", command=list(command), security=security)
    start(d, cid)
    return cid


def out(d, cid, cmd):
    r = exec_sync(d, cid, cmd)
    assert r.exit_code == 0, r.stderr
    return r.stdout.decode().strip()


def invalid(pod, security, text):
    d, pod_id, cfg, image = pod
    with pytest.raises(grpc.RpcError) as e:
        create(d, pod_id, cfg, image, name="bad", log="bad.log", command=["true"], security=security)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    assert text in e.value.details()
    assert len(d.call("ListContainers", pb().ListContainersRequest()).containers) == 0


def test_run_as_username_and_merged_groups(pod):
    d = pod[0]
    sc = pb().LinuxContainerSecurityContext(run_as_username="app", supplemental_groups=[4000])
    cid = run(pod, security=sc)
    assert out(d, cid, ["id", "-u"]) == "1000"
    assert out(d, cid, ["id", "-g"]) == "1000"
    assert sorted(int(g) for g in out(d, cid, ["id", "-G"]).split()) == [10, 29, 1000, 4000]
    with open("/proc/%d/status" % status_pid(d, cid)) as f:
        groups = [l for l in f.read().splitlines() if l.startswith("Groups:")][0].split()[1:]
    # The primary gid is among the supplementary groups too, as runc puts it.
    assert sorted(int(g) for g in groups) == [10, 29, 1000, 4000]
    user = status(d, cid).user.linux
    assert (user.uid, user.gid, list(user.supplemental_groups)) == (1000, 1000, [1000, 10, 29, 4000])
    # ExecSync runs with the same groups.
    assert sorted(int(g) for g in out(d, cid, ["id", "-G"]).split()) == [10, 29, 1000, 4000]


def test_strict_groups_and_run_as_group(pod):
    d = pod[0]
    sc = pb().LinuxContainerSecurityContext(
        run_as_user=pb().Int64Value(value=1000), run_as_group=pb().Int64Value(value=3000),
        supplemental_groups=[4000], supplemental_groups_policy=pb().SupplementalGroupsPolicy.Value("Strict"))
    cid = run(pod, security=sc)
    assert out(d, cid, ["id", "-u"]) == "1000"
    assert sorted(int(g) for g in out(d, cid, ["id", "-G"]).split()) == [3000, 4000]
    assert list(status(d, cid).user.linux.supplemental_groups) == [3000, 4000]


@pytest.fixture(scope="module")
def group_image():
    """critest's image-predefined-group: user 1000 (app) by default, listed in group 50000 of /etc/group."""
    r = il.Registry()
    base = [m for m in il.busybox_members() if m.name != "etc/group"]
    group = "root:x:0:\napp:x:1000:\ngroup-defined-in-image:x:50000:app\n"
    il.build_image_from_layers(r, "library/groups", "v1", [base, [il.file("/etc/group", group)]],
                               config={"user": "1000", "cmd": ["sleep", "1000"], "env": [il.DEFAULT_PATH_ENV]})
    yield "%s/library/groups:v1" % r.host
    r.cleanup()


@pytest.mark.parametrize("policy,groups", [("Merge", [1000, 1234, 50000]), ("Strict", [1000, 1234])])
def test_supplemental_groups_policy_as_critest_checks_it(crispd, group_image, policy, groups):
    d = crispd
    assert d.call("Status", pb().StatusRequest()).features.supplemental_groups_policy
    pod_id, cfg = make_pod(d, group_image, "groups")
    try:
        sc = pb().LinuxContainerSecurityContext(
            run_as_user=pb().Int64Value(value=1000), supplemental_groups=[1234],
            supplemental_groups_policy=pb().SupplementalGroupsPolicy.Value(policy))
        cid = run((d, pod_id, cfg, group_image), security=sc, command=("sh", "-c", "id -G; sleep 1000"))
        user = status(d, cid).user.linux
        assert (user.uid, user.gid, list(user.supplemental_groups)) == (1000, 1000, groups)
        want = " ".join(str(g) for g in groups)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not log_lines(d, cfg, "c.log"):
            time.sleep(0.05)
        assert [m.group(4) for m in log_lines(d, cfg, "c.log")] == [want]
        assert out(d, cid, ["id", "-G"]) == want
    finally:
        remove_pod(d, pod_id)


def test_run_as_group_and_fs_group_as_kubelet_sends_them(pod):
    """runAsUser, runAsGroup 3000, fsGroup 2000 (a user the image's /etc/group does not list): `id` shows
    groups=2000,3000, as with containerd."""
    d = pod[0]
    sc = pb().LinuxContainerSecurityContext(run_as_user=pb().Int64Value(value=1001),
                                            run_as_group=pb().Int64Value(value=3000), supplemental_groups=[2000])
    cid = run(pod, security=sc)
    assert out(d, cid, ["id"]) == "uid=1001 gid=3000 groups=2000,3000"
    assert list(status(d, cid).user.linux.supplemental_groups) == [3000, 2000]


def test_numeric_user_takes_the_passwd_group(pod):
    d = pod[0]
    cid = run(pod, security=pb().LinuxContainerSecurityContext(run_as_user=pb().Int64Value(value=65534)))
    assert out(d, cid, ["id", "-g"]) == "65534"


@pytest.mark.parametrize("sc,text", [
    (dict(run_as_group=3000), "run_as_group is set without run_as_user"),
    (dict(run_as_username="ghost"), "user \"ghost\" is not in the image's /etc/passwd"),
    (dict(run_as_user=-5), "not a valid id"),
])
def test_bad_identity_is_invalid_argument(pod, sc, text):
    kw = {}
    for k, v in sc.items():
        kw[k] = pb().Int64Value(value=v) if k in ("run_as_user", "run_as_group") else v
    invalid(pod, pb().LinuxContainerSecurityContext(**kw), text)


def test_setuid_binary_does_not_gain_root_with_no_new_privs(pod):
    d = pod[0]
    plain = run(pod, "plain", pb().LinuxContainerSecurityContext(run_as_user=pb().Int64Value(value=1000)))
    assert out(d, plain, ["/bin/euid"]) == "0"      # setuid root works without no_new_privs
    nnp = run(pod, "nnp", pb().LinuxContainerSecurityContext(run_as_user=pb().Int64Value(value=1000),
                                                             no_new_privs=True))
    assert out(d, nnp, ["/bin/euid"]) == "1000"


def test_device_cgroup_blocks_host_devices(pod):
    d = pod[0]
    cid = run(pod)
    # CAP_MKNOD makes the node; the device cgroup refuses to open it.
    assert exec_sync(d, cid, ["busybox", "mknod", "/tmp/mem", "c", "1", "1"]).exit_code == 0
    r = exec_sync(d, cid, ["sh", "-c", ": < /tmp/mem"])
    assert r.exit_code != 0 and b"not permitted" in r.stderr
    assert exec_sync(d, cid, ["sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c"]).stdout.strip() == b"4"


def test_privileged_container_needs_a_privileged_pod(pod):
    invalid(pod, pb().LinuxContainerSecurityContext(privileged=True), "not privileged")


def host_caps():
    with open("/proc/self/status") as f:
        return [int(l.split()[1], 16) for l in f if l.startswith("CapBnd:")][0]


def test_privileged_container(crispd, image):
    pod_id, cfg = make_pod(crispd, image, "priv", privileged=True)
    try:
        cid = run((crispd, pod_id, cfg, image), security=pb().LinuxContainerSecurityContext(privileged=True))
        st = out(crispd, cid, ["cat", "/proc/self/status"])
        caps = {l.split(":")[0]: int(l.split()[1], 16) for l in st.splitlines() if l.startswith("Cap")}
        assert caps["CapEff"] == caps["CapBnd"] == host_caps()
        assert "Seccomp:\t0" in st
        mounts = out(crispd, cid, ["cat", "/proc/mounts"]).splitlines()
        sys_opts = [m.split()[3] for m in mounts if m.split()[1] == "/sys"][0]
        assert sys_opts.startswith("rw")
        # The host's devices are there and usable; nothing is masked.
        host_devs = sorted(n for n in os.listdir("/dev") if n.startswith("loop") or n in ("kmsg", "fuse"))
        assert host_devs and all(
            exec_sync(crispd, cid, ["test", "-e", "/dev/" + n]).exit_code == 0 for n in host_devs)
        assert exec_sync(crispd, cid, ["sh", "-c", ": < /dev/loop0"]).exit_code == 0
        assert out(crispd, cid, ["cat", "/proc/timer_list"]) != ""
    finally:
        remove_pod(crispd, pod_id)


def ns_of(d, cid, name):
    return out(d, cid, ["readlink", "/proc/self/ns/" + name])


def test_host_namespaces_are_visible(crispd, image):
    pod_id, cfg = make_pod(crispd, image, "hostns", host_pid=True, host_ipc=True, host_network=True)
    try:
        sc = pb().LinuxContainerSecurityContext(namespace_options=pb().NamespaceOption(
            network=ns_mode("NODE"), pid=ns_mode("NODE"), ipc=ns_mode("NODE")))
        cid = run((crispd, pod_id, cfg, image), security=sc)
        for name in ("net", "ipc", "pid"):
            assert ns_of(crispd, cid, name) == os.readlink("/proc/self/ns/" + name)
        # Host PID: the host's processes, crispd among them, are visible.
        assert exec_sync(crispd, cid, ["test", "-d", "/proc/%d" % crispd.proc.pid]).exit_code == 0
    finally:
        remove_pod(crispd, pod_id)


def test_pod_namespaces_are_not_the_hosts(crispd, image):
    net = BridgeNetwork(crispd.cni_dir, portmap=False)
    try:
        pod_id, cfg = make_pod(crispd, image, "podns", host_network=False)
        try:
            cid = run((crispd, pod_id, cfg, image))
            for name in ("net", "ipc", "pid", "uts", "mnt"):
                assert ns_of(crispd, cid, name) != os.readlink("/proc/self/ns/" + name)
            assert exec_sync(crispd, cid, ["test", "-d", "/proc/%d" % crispd.proc.pid]).exit_code != 0
        finally:
            remove_pod(crispd, pod_id)
    finally:
        net.cleanup()


def procs_seen(d, cid):
    return out(d, cid, ["ps", "-o", "args"])


def test_shared_pod_pid_namespace(crispd, image):
    pod_id, cfg = make_pod(crispd, image, "sharedpid", shared_pid=True)
    try:
        p = (crispd, pod_id, cfg, image)
        sc = pb().LinuxContainerSecurityContext(namespace_options=pb().NamespaceOption(
            network=ns_mode("NODE"), pid=ns_mode("POD"), ipc=ns_mode("POD")))
        a = run(p, "a", sc, ("sleep", "1111"))
        b = run(p, "b", sc, ("sleep", "2222"))
        assert "sleep 1111" in procs_seen(crispd, b) and "sleep 2222" in procs_seen(crispd, a)
        assert ns_of(crispd, a, "pid") == ns_of(crispd, b, "pid")
    finally:
        remove_pod(crispd, pod_id)


def test_target_pid_namespace(pod):
    d = pod[0]
    a = run(pod, "a", None, ("sleep", "3333"))
    sc = pb().LinuxContainerSecurityContext(namespace_options=pb().NamespaceOption(
        network=ns_mode("NODE"), pid=ns_mode("TARGET"), ipc=ns_mode("POD"), target_id=a))
    dbg = run(pod, "debug", sc, ("sleep", "4444"))
    assert "sleep 3333" in procs_seen(d, dbg)
    assert ns_of(d, dbg, "pid") == ns_of(d, a, "pid")
    # Without TARGET, each container has its own.
    own = run(pod, "own", None, ("sleep", "5555"))
    assert "sleep 3333" not in procs_seen(d, own)


@pytest.mark.parametrize("ns,text", [
    (dict(network="POD", pid="CONTAINER", ipc="POD"), "network namespace mode POD does not match"),
    (dict(network="NODE", pid="NODE", ipc="POD"), "PID namespace mode NODE needs a pod"),
    (dict(network="NODE", pid="TARGET", ipc="POD"), "needs a target container id"),
])
def test_namespace_modes_that_do_not_fit_the_pod(pod, ns, text):
    opts = pb().NamespaceOption(**{k: ns_mode(v) for k, v in ns.items()})
    invalid(pod, pb().LinuxContainerSecurityContext(namespace_options=opts), text)


def profile(kind, ref=""):
    T = pb().SecurityProfile.ProfileType
    return pb().SecurityProfile(profile_type=T.Value(kind), localhost_ref=ref)


def seccomp_mode(d, cid):
    st = out(d, cid, ["cat", "/proc/self/status"])
    return [l.split()[1] for l in st.splitlines() if l.startswith("Seccomp:")][0]


def test_seccomp_runtime_default_and_unconfined(pod):
    d = pod[0]
    unconfined = run(pod, "unconfined")      # unset: unconfined, as kubelet expects
    assert seccomp_mode(d, unconfined) == "0"
    assert out(d, unconfined, ["/bin/keyctl-probe"]) == "0"
    dflt = run(pod, "default", pb().LinuxContainerSecurityContext(seccomp=profile("RuntimeDefault")))
    assert seccomp_mode(d, dflt) == "2"
    assert out(d, dflt, ["/bin/keyctl-probe"]) == "1"           # EPERM
    with open("/proc/%d/status" % status_pid(d, dflt)) as f:
        assert "Seccomp:\t2" in f.read()                           # the workload, not only the exec
    legacy = run(pod, "legacy", pb().LinuxContainerSecurityContext(seccomp_profile_path="runtime/default"))
    assert out(d, legacy, ["/bin/keyctl-probe"]) == "1"
    nnp = run(pod, "nnp", pb().LinuxContainerSecurityContext(seccomp=profile("RuntimeDefault"), no_new_privs=True,
                                                             run_as_user=pb().Int64Value(value=1000)))
    assert out(d, nnp, ["/bin/keyctl-probe"]) == "1"
    assert seccomp_mode(d, nnp) == "2"


def write_profile(d, name, obj):
    import json
    path = os.path.join(d.dir, name)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_seccomp_localhost_profile_sets_the_errno(pod):
    d = pod[0]
    path = write_profile(d, "deny-mkdir.json", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]})
    cid = run(pod, "local", pb().LinuxContainerSecurityContext(seccomp=profile("Localhost", path)),
              command=("sh", "-c", "mkdir /tmp/a 2>/tmp/err; sleep 1000"))
    r = exec_sync(d, cid, ["mkdir", "/tmp/b"])
    assert r.exit_code != 0 and b"Function not implemented" in r.stderr
    assert b"Function not implemented" in exec_sync(d, cid, ["cat", "/tmp/err"]).stdout
    assert out(d, cid, ["/bin/keyctl-probe"]) == "0"
    legacy = run(pod, "legacy-local", pb().LinuxContainerSecurityContext(seccomp_profile_path="localhost/" + path))
    assert exec_sync(d, legacy, ["mkdir", "/tmp/c"]).exit_code != 0
    plain = run(pod, "plain")
    assert exec_sync(d, plain, ["mkdir", "/tmp/d"]).exit_code == 0


def test_bad_seccomp_profiles_are_invalid_argument(pod):
    d = pod[0]
    bad_action = write_profile(d, "bad-action.json", {"defaultAction": "SCMP_ACT_FLY"})
    not_json = write_profile(d, "not-json.json", "{defaultAction")
    missing = os.path.join(d.dir, "missing.json")
    for sc, text in [
        (pb().LinuxContainerSecurityContext(seccomp=profile("Localhost", bad_action)), "SCMP_ACT_FLY"),
        (pb().LinuxContainerSecurityContext(seccomp=profile("Localhost", not_json)), not_json),
        (pb().LinuxContainerSecurityContext(seccomp=profile("Localhost", missing)), missing),
        (pb().LinuxContainerSecurityContext(seccomp=profile("Localhost", "relative.json")), "not an absolute path"),
        (pb().LinuxContainerSecurityContext(seccomp_profile_path="bogus/profile"), "unknown seccomp profile"),
    ]:
        invalid(pod, sc, text)
    assert not [n for n in os.listdir(os.path.join(d.state, "containers"))]


def test_apparmor_localhost_needs_apparmor_on_the_host(pod):
    if os.path.exists("/sys/module/apparmor/parameters/enabled"):
        with open("/sys/module/apparmor/parameters/enabled") as f:
            if f.read().strip() == "Y":
                pytest.skip("this host has AppArmor")
    d = pod[0]
    invalid(pod, pb().LinuxContainerSecurityContext(apparmor=profile("Localhost", "my-profile")),
            "AppArmor is not enabled")
    # RuntimeDefault and SELinux options are accepted where the host has neither.
    sc = pb().LinuxContainerSecurityContext(apparmor=profile("RuntimeDefault"),
                                            selinux_options=pb().SELinuxOption(type="spc_t", level="s0:c1,c2"))
    assert out(d, run(pod, "lsm", sc), ["echo", "ok"]) == "ok"


def userns_opts(mode="POD", uids=((0, 1000000, 65536),), gids=((0, 1000000, 65536),)):
    M = pb().IDMapping
    return pb().UserNamespace(mode=ns_mode(mode),
                              uids=[M(container_id=c, host_id=h, length=n) for c, h, n in uids],
                              gids=[M(container_id=c, host_id=h, length=n) for c, h, n in gids])


def userns_pod(d, image, name, opts, host_network=False):
    cfg = pod_config(name, host_network=host_network)
    cfg.linux.security_context.namespace_options.userns_options.CopyFrom(opts)
    cfg.log_directory = os.path.join(d.dir, "logs-" + name)
    os.makedirs(cfg.log_directory, exist_ok=True)
    return run_pod(d, cfg), cfg


def test_user_namespace_pod(crispd, image, tmp_path_factory):
    d = crispd
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    handlers = d.call("Status", pb().StatusRequest()).runtime_handlers
    assert handlers[0].features.user_namespaces
    vol = tempfile.mkdtemp(prefix=TMP_PREFIX + "vol-")
    os.chmod(vol, 0o755)
    with open(os.path.join(vol, "from-host"), "w") as f:
        f.write("hi")
    net = BridgeNetwork(d.cni_dir, portmap=False)
    try:
        pod_id, cfg = userns_pod(d, image, "userns", userns_opts())
        try:
            st = d.call("PodSandboxStatus", pb().PodSandboxStatusRequest(pod_sandbox_id=pod_id)).status
            u = st.linux.namespaces.options.userns_options
            assert u.mode == ns_mode("POD") and u.uids[0].host_id == 1000000 and u.uids[0].length == 65536
            mount = pb().Mount(container_path="/data", host_path=vol)
            cid = create(d, pod_id, cfg, image, name="c", log="c.log", command=["sleep", "1000"], mounts=[mount])
            start(d, cid)
            assert out(d, cid, ["cat", "/proc/self/uid_map"]).split() == ["0", "1000000", "65536"]
            assert out(d, cid, ["cat", "/proc/self/gid_map"]).split() == ["0", "1000000", "65536"]
            assert out(d, cid, ["id", "-u"]) == "0"
            with open("/proc/%d/status" % status_pid(d, cid)) as f:
                uids = [l for l in f.read().splitlines() if l.startswith("Uid:")][0].split()[1:]
            assert uids == ["1000000"] * 4               # the workload is unprivileged on the host
            # The image's files are root's inside; the container's root may write its own root fs.
            assert out(d, cid, ["stat", "-c", "%u:%g", "/etc/passwd"]) == "0:0"
            assert exec_sync(d, cid, ["sh", "-c", "echo x > /etc/new && echo y > /dev/shm/z"]).exit_code == 0
            # Volumes are idmapped: the host's root-owned file is root's inside, and what the
            # container's root writes is root's on disk.
            assert out(d, cid, ["stat", "-c", "%u", "/data/from-host"]) == "0"
            assert exec_sync(d, cid, ["sh", "-c", "echo z > /data/from-container"]).exit_code == 0
            st = os.stat(os.path.join(vol, "from-container"))
            assert (st.st_uid, st.st_gid) == (0, 0)
            # The pod's network namespace is the user namespace's: its root may bind a low port.
            assert exec_sync(d, cid, ["httpd", "-p", "80", "-h", "/"]).exit_code == 0
        finally:
            remove_pod(d, pod_id)
    finally:
        net.cleanup()
        subprocess.run(["rm", "-rf", vol])


def test_containers_repeat_the_pods_user_namespace(crispd, image):
    """kubelet and critest send the pod's userns_options again for each container: the pod's are
    accepted, others refused."""
    d = crispd
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    net = BridgeNetwork(d.cni_dir, portmap=False)
    try:
        pod_id, cfg = userns_pod(d, image, "userns-ctr", userns_opts())
        try:
            def security(opts):
                ns = pb().NamespaceOption()
                ns.CopyFrom(cfg.linux.security_context.namespace_options)
                ns.userns_options.CopyFrom(opts)
                return pb().LinuxContainerSecurityContext(namespace_options=ns)

            cid = run((d, pod_id, cfg, image), security=security(userns_opts()))
            assert out(d, cid, ["cat", "/proc/self/uid_map"]).split() == ["0", "1000000", "65536"]
            assert out(d, cid, ["id", "-u"]) == "0"
            for opts, text in [
                (userns_opts(uids=((0, 2000000, 65536),)),
                 "user namespace mappings (uid 2000000, gid 1000000, 65536 ids) do not match the pod's "
                 "(uid 1000000, gid 1000000, 65536 ids)"),
                (userns_opts(mode="NODE", uids=(), gids=()), "user namespace mode NODE does not match the pod's (POD)"),
            ]:
                with pytest.raises(grpc.RpcError) as e:
                    create(d, pod_id, cfg, image, name="bad", log="bad.log", command=["true"],
                           security=security(opts))
                assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and text in e.value.details()
        finally:
            remove_pod(d, pod_id)
    finally:
        net.cleanup()


def test_a_user_namespace_for_a_container_of_a_host_userns_pod_is_refused(pod):
    ns = pb().NamespaceOption(userns_options=userns_opts())
    invalid(pod, pb().LinuxContainerSecurityContext(namespace_options=ns),
            "user namespace mode POD does not match the pod's (NODE)")


@pytest.mark.parametrize("opts,host_network,text", [
    (dict(uids=((0, 1000000, 100), (100, 2000000, 100))), False, "exactly one uid mapping"),
    (dict(uids=((1, 1000000, 65536),)), False, "must start at container id 0"),
    (dict(uids=((0, 0, 65536),), gids=((0, 0, 65536),)), False, "may not include the host's root"),
    (dict(mode="CONTAINER"), False, "is not supported"),
    (dict(), True, "cannot use the host's network"),
])
def test_bad_user_namespaces_are_invalid_argument(crispd, image, opts, host_network, text):
    with pytest.raises(grpc.RpcError) as e:
        userns_pod(crispd, image, "badns", userns_opts(**opts), host_network=host_network)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and text in e.value.details()
    assert len(crispd.call("ListPodSandbox", pb().ListPodSandboxRequest()).items) == 0


def test_ambient_capabilities_for_a_non_root_user(pod):
    d = pod[0]
    sc = pb().LinuxContainerSecurityContext(run_as_user=pb().Int64Value(value=1000), capabilities=pb().Capability(
        drop_capabilities=["ALL"], add_ambient_capabilities=["CAP_NET_BIND_SERVICE"]))
    cid = run(pod, "ambient", sc)
    nbs = 1 << 10

    def caps(text):
        return {l.split(":")[0]: int(l.split()[1], 16) for l in text.splitlines() if l.startswith("Cap")}
    with open("/proc/%d/status" % status_pid(d, cid)) as f:
        c = caps(f.read())
    assert (c["CapEff"], c["CapPrm"], c["CapAmb"], c["CapBnd"]) == (nbs, nbs, nbs, nbs)
    c = caps(out(d, cid, ["cat", "/proc/self/status"]))
    assert (c["CapEff"], c["CapAmb"]) == (nbs, nbs)
    assert exec_sync(d, cid, ["httpd", "-p", "81", "-h", "/"]).exit_code == 0   # a low port, as uid 1000


def test_unknown_ambient_capability_is_invalid_argument(pod):
    invalid(pod, pb().LinuxContainerSecurityContext(capabilities=pb().Capability(
        add_ambient_capabilities=["CAP_WARP"])), "ambient capabilities: unknown capability")


def create_with_devices(pod, name, devices):
    d, pod_id, cfg, image = pod
    config = pb().ContainerConfig(
        metadata=pb().ContainerMetadata(name=name), image=pb().ImageSpec(image=image), command=["sleep", "1000"],
        log_path=name + ".log",
        devices=[pb().Device(container_path=c, host_path=h, permissions=p) for c, h, p in devices])
    return d.call("CreateContainer", pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                                 sandbox_config=cfg), timeout=60).container_id


def test_requested_devices_get_their_permissions(pod):
    d = pod[0]
    cid = create_with_devices(pod, "dev", [("/dev/xloop", "/dev/loop0", "r"), ("/dev/sub/xnull", "/dev/null", "")])
    start(d, cid)
    assert out(d, cid, ["stat", "-c", "%t:%T", "/dev/xloop"]) == "7:0"
    assert exec_sync(d, cid, ["sh", "-c", ": < /dev/xloop"]).exit_code == 0         # read allowed
    r = exec_sync(d, cid, ["sh", "-c", ": > /dev/xloop"])
    assert r.exit_code != 0 and b"not permitted" in r.stderr                           # write is not
    assert exec_sync(d, cid, ["sh", "-c", "echo x > /dev/sub/xnull"]).exit_code == 0   # default: rwm


@pytest.mark.parametrize("device,code,text", [
    (("/dev/xloop", "/dev/loop0", "rwx"), "INVALID_ARGUMENT", "not a combination of r, w and m"),
    (("/dev/xnot", "/etc/hostname", "r"), "INVALID_ARGUMENT", "is not a character or block device"),
    (("/dev/xmissing", "/dev/no-such-device", "r"), "NOT_FOUND", "/dev/no-such-device"),
])
def test_bad_devices_are_refused(pod, device, code, text):
    d = pod[0]
    with pytest.raises(grpc.RpcError) as e:
        create_with_devices(pod, "baddev", [device])
    assert e.value.code() == getattr(grpc.StatusCode, code) and text in e.value.details()
    assert len(d.call("ListContainers", pb().ListContainersRequest()).containers) == 0
