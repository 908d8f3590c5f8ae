"""crispd under systemd, as installed by `make install` (vm/install.sh): Type=notify start that returns
only once the socket serves, clean stop, and containers that outlive a restart (KillMode=process).
Runs only in the test VM (systemd as PID 1, crisp.service installed); vm/vm-test.sh runs it."""
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "e2e"))
import imagelib as il  # noqa: E402
from conftest import Crispd, pb  # noqa: E402
from podlib import pod_config, remove_pod, run_pod  # noqa: E402

UNIT = "crisp.service"
SOCK = "/run/crisp/crisp.sock"

pytestmark = pytest.mark.skipif(not os.path.exists("/etc/systemd/system/" + UNIT) or
                                not os.path.isdir("/run/systemd/system"),
                                reason="needs systemd as PID 1 and crisp.service installed (the test VM)")


def systemctl(*args, check=True):
    return subprocess.run(["systemctl"] + list(args), capture_output=True, text=True, timeout=120, check=check)


def unit(*props):
    out = systemctl("show", UNIT, "-p", ",".join(props)).stdout
    return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)


class Installed(Crispd):
    """The installed crispd, spoken to on its socket; systemd starts and stops it."""

    def __init__(self):
        super().__init__(start=False)
        self.sock = SOCK


@pytest.fixture(scope="module")
def service():
    systemctl("stop", UNIT)
    d = Installed()
    yield d
    d.cleanup()
    systemctl("stop", UNIT, check=False)


def version_answers_at_once(d):
    """One Version call, no retry: Type=notify means `systemctl start` returned after READY=1."""
    d.channel = None
    return d.call("Version", pb().VersionRequest(), timeout=5).runtime_name == "crisp"


def test_start_returns_once_serving(service):
    t = time.monotonic()
    systemctl("start", UNIT)
    took = time.monotonic() - t
    assert version_answers_at_once(service)
    u = unit("Type", "ActiveState", "SubState", "StatusText", "NotifyAccess", "KillMode")
    assert u["Type"] == "notify" and u["ActiveState"] == "active" and u["SubState"] == "running", u
    assert u["StatusText"] == "serving CRI v1" and u["KillMode"] == "process", u
    print("systemctl start crisp: %.2f s" % took)


def monitors():
    """pids of the crisp-monitor processes (in the VM, only the installed crispd's)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() == "crisp-monitor":
                    out.append(int(pid))
        except OSError:
            pass
    return out


def environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return [e for e in f.read().split(b"\0") if e]


def container_pid(d, cid):
    st = d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid, verbose=True))
    return st.status.state, json.loads(st.info["info"])["pid"]


def test_container_survives_restart_and_stop(service):
    d = service
    systemctl("start", UNIT)
    registry = il.Registry()
    try:
        il.build_busybox_image(registry, "library/busybox", "svc")
        ref = "%s/library/busybox:svc" % registry.host
        d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=ref)), timeout=120)
        cfg = pod_config("svc-pod", host_network=True)
        pod_id = run_pod(d, cfg)
        config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name="sleeper"),
                                      image=pb().ImageSpec(image=ref), command=["sleep", "100000"])
        cid = d.call("CreateContainer", pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                                     sandbox_config=cfg), timeout=60).container_id
        d.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)
        state, pid = container_pid(d, cid)
        assert state == pb().CONTAINER_RUNNING and pid > 0
        # NOTIFY_SOCKET went to crispd only: nothing it starts can speak for it.
        assert monitors() and all(not e.startswith(b"NOTIFY_SOCKET=") for m in monitors() for e in environ(m))
        assert not [e for e in environ(pid) if e.startswith(b"NOTIFY_SOCKET=")]

        old_main = unit("MainPID")["MainPID"]
        t = time.monotonic()
        systemctl("restart", UNIT)
        print("systemctl restart crisp: %.2f s" % (time.monotonic() - t))
        assert unit("MainPID")["MainPID"] != old_main
        assert version_answers_at_once(d)
        assert container_pid(d, cid) == (pb().CONTAINER_RUNNING, pid)
        os.kill(pid, 0)
        r = d.call("ExecSync", pb().ExecSyncRequest(container_id=cid, cmd=["echo", "alive"], timeout=10), timeout=40)
        assert r.exit_code == 0 and r.stdout == b"alive\n"

        # A plain stop ends crispd alone, cleanly (not "failed"), and the container keeps running.
        systemctl("stop", UNIT)
        u = unit("ActiveState", "Result", "ExecMainStatus")
        assert u["ActiveState"] == "inactive" and u["Result"] == "success" and u["ExecMainStatus"] == "0", u
        os.kill(pid, 0)
        systemctl("start", UNIT)
        assert version_answers_at_once(d)
        assert container_pid(d, cid) == (pb().CONTAINER_RUNNING, pid)

        d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0), timeout=60)
        d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=60)
        remove_pod(d, pod_id)
    finally:
        registry.cleanup()
