"""Create+Start latency with each cgroup driver (a figure, not a test: run it explicitly with
`vm/run.sh --build B -- test/e2e/bench_cgroup_driver.py -s`; it asserts nothing about time)."""
import statistics
import subprocess
import time
import uuid

import pytest

from conftest import pb
from podlib import pod_config, remove_pod, run_pod
from test_cgroup_systemd import V2, busybox, create, start, systemd_pid1  # noqa: F401 (fixture)

N = 20


@pytest.mark.skipif(not (systemd_pid1() and V2), reason="needs systemd as PID 1 on cgroup v2 (the test VM)")
@pytest.mark.parametrize("driver", ["cgroupfs", "systemd"])
def test_create_start_latency(crispd_factory, busybox, driver):  # noqa: F811
    d = crispd_factory(config={"cgroup_driver": driver})
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=busybox.ref_str)), timeout=120)
    top = "crispbench" + uuid.uuid4().hex[:6]
    parent = ("%s-pod1.slice" % top) if driver == "systemd" else "/%s/pod1" % top
    cfg = pod_config("bench-" + driver, host_network=True, cgroup_parent=parent)
    pod_id = run_pod(d, cfg)
    times, ids = [], []
    for i in range(N):
        t0 = time.monotonic()
        cid = create(d, pod_id, cfg, busybox.ref_str, "c%d" % i)
        start(d, cid)
        times.append((time.monotonic() - t0) * 1000)
        ids.append(cid)
    if driver == "systemd":
        print(subprocess.run(["systemd-cgls", "--no-pager", "/%s.slice" % top], capture_output=True,
                             text=True).stdout[:3000])
    for cid in ids:
        d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0), timeout=30)
        d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=30)
    remove_pod(d, pod_id)
    print("\nCreate+Start %s: n=%d median %.1f ms, mean %.1f ms, min %.1f, max %.1f" % (
        driver, N, statistics.median(times), statistics.mean(times), min(times), max(times)))
