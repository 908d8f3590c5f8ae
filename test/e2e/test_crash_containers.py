"""Fault injection for containers: crispd (the test build) is killed at every crash point of
CreateContainer, StartContainer, StopContainer and RemoveContainer, restarted, and must then show a
consistent state: a half-made create is not listed and left nothing; a start either runs exactly one
workload (adopted as RUNNING, which a stop really stops) or none (CREATED, and a retried start runs
exactly one); a half-done remove is finished. Then everything is removed through CRI and nothing of
crisp's may be left on the machine."""
import json
import os
import subprocess
import time

import grpc
import pytest

import imagelib as il
from conftest import CRISPD, pb
from crashlib import arm, expect_crash, leftovers, remove_everything, restart
from podlib import pod_config, run_pod

CREATE_POINTS = ["container.create.after_state_dir", "container.create.after_intent",
                 "container.create.after_layer", "container.create.after_image_volumes",
                 "container.create.after_cgroup", "container.create.after_spec",
                 "container.create.after_log_dir", "container.create.after_record"]
START_POINTS = ["container.start.before_spawn", "container.start.after_spawn", "container.start.after_sync"]
STOP_POINTS = ["container.stop.after_signal", "container.stop.after_kill", "container.stop.before_record"]
REMOVE_POINTS = ["container.remove.after_intent", "container.remove.after_cgroup",
                 "container.remove.after_layer"]

# Stops on SIGTERM (a shell as PID 1 needs the trap), so a graceful stop ends by itself.
WORKLOAD = ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
STATE = pb().ContainerState


@pytest.fixture(scope="module")
def image():
    r = il.Registry()
    img = il.build_busybox_image(r, "library/busybox", "crash", cmd=("/bin/sh",))
    yield "%s/library/busybox:crash" % r.host
    r.cleanup()


@pytest.fixture
def node(crispd_factory, image):
    """A crispd not started yet (arm it first), and what the test needs once it runs."""
    d = crispd_factory(start=False)
    d.logs = os.path.join(d.dir, "logs")
    os.mkdir(d.logs)
    yield d
    if d.proc is not None and d.proc.poll() is None:
        try:
            remove_everything(d)
        finally:
            d.stop()


def pod(d, image):
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    cfg = pod_config("crash-pod", host_network=True)
    cfg.log_directory = d.logs
    return run_pod(d, cfg), cfg


def create_req(pod_id, cfg, image, name="c", attempt=0):
    config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name=name, attempt=attempt),
                                  image=pb().ImageSpec(image=image), command=WORKLOAD,
                                  log_path="%s/%d.log" % (name, attempt))
    return pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=cfg)


def create(d, pod_id, cfg, image, **kw):
    return d.call("CreateContainer", create_req(pod_id, cfg, image, **kw), timeout=60).container_id


def start(d, cid):
    d.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)


def status(d, cid):
    return d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid)).status


def listed(d):
    return list(d.call("ListContainers", pb().ListContainersRequest()).containers)


def record(d, cid):
    with open(os.path.join(d.state, "containers", cid, "container.json")) as f:
        return json.load(f)


def cgroup_pids(cgroup_path):
    """Live processes in cgroup_path or below, in any hierarchy, but crisp-hold (the systemd driver's
    placeholder that keeps a container's scope alive, not a workload)."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % pid) as f:
                paths = [line.split(":", 2)[2] for line in f.read().splitlines()]
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
            if stat.rsplit(")", 1)[1].split()[0] == "Z" or stat.split("(", 1)[1].startswith("crisp-hold)"):
                continue
        except (OSError, IndexError):
            continue
        if any(p == cgroup_path or p.startswith(cgroup_path + "/") for p in paths):
            found.add(int(pid))
    return sorted(found)


def monitors_of(d, cid):
    spec = os.path.join(d.state, "containers", cid).encode()
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"crisp-monitor") and any(a.startswith(spec + b"/") for a in argv):
            found.append(int(pid))
    return found


def assert_one_workload(d, cid, cgroup):
    """RUNNING, with one monitor and one live workload process, the one status reports."""
    st = status(d, cid)
    assert st.state == STATE.Value("CONTAINER_RUNNING"), st
    assert len(monitors_of(d, cid)) == 1, monitors_of(d, cid)
    # One workload: one process whose parent (its monitor) is outside the cgroup; the rest are its
    # children (the sleeps it runs).
    pids = cgroup_pids(cgroup)
    # parent() is 0 for a process gone since the listing (a sleep that just ended): not a root.
    roots = [p for p in pids if parent(p) not in pids and parent(p) != 0]
    assert len(roots) == 1, [(p, parent(p)) for p in pids]
    assert parent(roots[0]) in monitors_of(d, cid)


def parent(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def wait_until(cond, timeout=15):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met within %d s" % timeout
        time.sleep(0.05)


def assert_nothing_runs(d, cid, cgroup):
    assert monitors_of(d, cid) == []
    assert cgroup_pids(cgroup) == []


def stop_really_stops(d, cid, cgroup):
    d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0), timeout=60)
    st = status(d, cid)
    assert st.state == STATE.Value("CONTAINER_EXITED"), st
    assert_nothing_runs(d, cid, cgroup)


def finish(d):
    remove_everything(d)
    assert leftovers(d) == []
    assert d.stop() == 0, d.log()[-3000:]


@pytest.mark.parametrize("point", CREATE_POINTS)
def test_crash_in_create(node, image, point):
    d = node
    arm(d, point)
    d.start()
    pod_id, cfg = pod(d, image)
    expect_crash(d, point, lambda: create(d, pod_id, cfg, image))
    restart(d)
    left = listed(d)
    if point == "container.create.after_record":
        # Recorded whole: kubelet may not have had the reply, but the container is real and usable.
        assert [c.state for c in left] == [STATE.Value("CONTAINER_CREATED")]
        cid = left[0].id
    else:
        assert left == []
        assert os.listdir(os.path.join(d.state, "containers")) == []
        assert os.listdir(os.path.join(d.root, "containers")) == []
        assert not os.path.exists(os.path.join(d.logs, "c")), "the log directory create made stays"
        cid = create(d, pod_id, cfg, image)
    # The pod works as before: the container starts, and stops for real.
    start(d, cid)
    cgroup = record(d, cid)["cgroup_path"]
    assert_one_workload(d, cid, cgroup)
    stop_really_stops(d, cid, cgroup)
    finish(d)


@pytest.mark.parametrize("point", START_POINTS)
def test_crash_in_start(node, image, point):
    d = node
    arm(d, point)
    d.start()
    pod_id, cfg = pod(d, image)
    cid = create(d, pod_id, cfg, image)
    cgroup = record(d, cid)["cgroup_path"]
    expect_crash(d, point, lambda: start(d, cid))
    restart(d)
    st = status(d, cid)
    if point == "container.start.after_sync":
        # The monitor reported the workload running: it is adopted with its true pid.
        assert st.state == STATE.Value("CONTAINER_RUNNING"), st
    elif point == "container.start.before_spawn":
        assert st.state == STATE.Value("CONTAINER_CREATED"), st
    assert st.state in (STATE.Value("CONTAINER_RUNNING"), STATE.Value("CONTAINER_CREATED")), st
    assert record(d, cid).get("starting", 0) == 0
    if st.state == STATE.Value("CONTAINER_CREATED"):
        assert_nothing_runs(d, cid, cgroup)
        start(d, cid)
    else:
        assert st.started_at > 0
        # A second start is refused: never two workloads.
        with pytest.raises(grpc.RpcError) as e:
            start(d, cid)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert_one_workload(d, cid, cgroup)
    # What a restart adopted survives the next one too.
    d.stop()
    restart(d)
    assert_one_workload(d, cid, cgroup)
    stop_really_stops(d, cid, cgroup)
    finish(d)


@pytest.mark.parametrize("point", STOP_POINTS)
def test_crash_in_stop(node, image, point):
    d = node
    arm(d, point)
    d.start()
    pod_id, cfg = pod(d, image)
    cid = create(d, pod_id, cfg, image)
    cgroup = record(d, cid)["cgroup_path"]
    start(d, cid)
    grace = 30 if point == "container.stop.after_signal" else 0
    expect_crash(d, point, lambda: d.call(
        "StopContainer", pb().StopContainerRequest(container_id=cid, timeout=grace), timeout=60))
    restart(d)
    st = status(d, cid)
    assert st.state in (STATE.Value("CONTAINER_RUNNING"), STATE.Value("CONTAINER_EXITED")), st
    if st.state == STATE.Value("CONTAINER_EXITED"):
        assert_nothing_runs(d, cid, cgroup)
    stop_really_stops(d, cid, cgroup)
    finish(d)


@pytest.mark.parametrize("point", REMOVE_POINTS)
def test_crash_in_remove(node, image, point):
    d = node
    arm(d, point)
    d.start()
    pod_id, cfg = pod(d, image)
    cid = create(d, pod_id, cfg, image)
    cgroup = record(d, cid)["cgroup_path"]
    start(d, cid)
    expect_crash(d, point, lambda: d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid),
                                          timeout=60))
    restart(d)
    # kubelet asked for it to go: start-up finished the removal.
    assert listed(d) == []
    assert not os.path.exists(os.path.join(d.state, "containers", cid))
    assert not os.path.exists(os.path.join(d.root, "containers", cid))
    assert_nothing_runs(d, cid, cgroup)
    # A second remove of what is gone answers OK.
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=60)
    finish(d)


def test_orphan_layer_is_swept(node, image):
    """A writable layer no container owns (an older crispd's crash between layer and record) goes at
    start-up; one that belongs to a container stays."""
    d = node
    d.start()
    pod_id, cfg = pod(d, image)
    cid = create(d, pod_id, cfg, image)
    d.stop()
    orphan = os.path.join(d.root, "containers", "ab" * 32)
    os.makedirs(os.path.join(orphan, "upper", "etc"))
    os.makedirs(os.path.join(orphan, "work"))
    d.start()
    assert not os.path.exists(orphan)
    assert os.path.isdir(os.path.join(d.root, "containers", cid, "upper"))
    assert [c.id for c in listed(d)] == [cid]
    finish(d)


def test_late_monitor_of_cancelled_start_runs_nothing(node, image):
    """A monitor whose start crispd gave up on (its claim is "cancelled") exits without running the
    workload, even when it comes after the restart: the retry is the only workload."""
    d = node
    d.start()
    pod_id, cfg = pod(d, image)
    cid = create(d, pod_id, cfg, image)
    cgroup = record(d, cid)["cgroup_path"]
    cdir = os.path.join(d.state, "containers", cid)
    with open(os.path.join(cdir, "start.7"), "w") as f:
        f.write("cancelled\n")
    monitor = os.path.join(os.path.dirname(CRISPD), "crisp-monitor")
    r, w = os.pipe()
    p = subprocess.run([monitor, "--spec", os.path.join(cdir, "spec"), "--sync-fd", str(w), "--claim",
                        os.path.join(cdir, "start.7")], pass_fds=(w,), timeout=30)
    os.close(w)
    os.close(r)
    assert p.returncode == 0  # the first process exits at once; the monitor itself gives up
    wait_until(lambda: monitors_of(d, cid) == [])
    assert_nothing_runs(d, cid, cgroup)
    assert status(d, cid).state == STATE.Value("CONTAINER_CREATED")
    assert not os.path.exists(os.path.join(cdir, "exit"))
    start(d, cid)
    assert_one_workload(d, cid, cgroup)
    stop_really_stops(d, cid, cgroup)
    finish(d)
