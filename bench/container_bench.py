#!/usr/bin/python3
"""Container benchmark: a pod with one container through its whole lifecycle (p50/p90 over N pods),
M pods each with a running container started back to back (total time and the summed PSS of crispd
and every crisp-monitor), ListContainers, ListContainerStats and ListPodSandboxStats with 50 and 500
containers, and ExecSync p50. Images come
from a local registry. Prints figures; asserts nothing."""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))

import imagelib as il  # noqa: E402
from conftest import Crispd, pb  # noqa: E402
from podlib import pod_config, remove_pod, run_pod, stop_pod  # noqa: E402


def ms(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] * 1000


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            return sum(int(l.split()[1]) for l in f if l.startswith("Pss:"))
    except OSError:
        return 0


def monitors():
    pids = []
    for p in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % p) as f:
                if f.read().strip() == "crisp-monitor":
                    pids.append(int(p))
        except OSError:
            pass
    return pids


def create(d, pod_id, cfg, image, name, command):
    config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name=name), image=pb().ImageSpec(image=image),
                                  command=command)
    return d.call("CreateContainer", pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                                 sandbox_config=cfg), timeout=60).container_id


def start(d, cid):
    d.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)


def lifecycle(d, image, n):
    total, create_start = [], []
    for i in range(n):
        t0 = time.monotonic()
        cfg = pod_config("life-%d" % i, host_network=True)
        pod = run_pod(d, cfg)
        t1 = time.monotonic()
        cid = create(d, pod, cfg, image, "c", ["sleep", "1000"])
        start(d, cid)
        t2 = time.monotonic()
        d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0), timeout=60)
        d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid))
        stop_pod(d, pod)
        remove_pod(d, pod)
        total.append(time.monotonic() - t0)
        create_start.append(t2 - t1)
    print("  pod+container lifecycle      p50 %7.2f ms  p90 %7.2f ms" % (ms(total, 50), ms(total, 90)))
    print("  CreateContainer+Start        p50 %7.2f ms  p90 %7.2f ms" % (ms(create_start, 50), ms(create_start, 90)))


def many_running(d, image, n):
    t = time.monotonic()
    made = []
    for i in range(n):
        cfg = pod_config("many-%d" % i, host_network=True)
        pod = run_pod(d, cfg)
        cid = create(d, pod, cfg, image, "c", ["sleep", "1000"])
        start(d, cid)
        made.append((pod, cid))
    elapsed = time.monotonic() - t
    mons = monitors()
    total_pss = pss_kib(d.proc.pid) + sum(pss_kib(p) for p in mons)
    print("  %d running pods started in   %7.2f s; PSS crispd+%d monitors %.1f MiB (%.0f KiB per pod; monitors alone %.0f KiB each)"
          % (n, elapsed, len(mons), total_pss / 1024.0, total_pss / float(n),
             sum(pss_kib(p) for p in mons) / max(1, len(mons))))
    return made


def time_lists(n, rounds, d):
    """ListContainers beside the stats RPCs kubelet calls every 10-15 s, over the same containers."""
    for method, req in (("ListContainers", pb().ListContainersRequest()),
                        ("ListContainerStats", pb().ListContainerStatsRequest()),
                        ("ListPodSandboxStats", pb().ListPodSandboxStatsRequest())):
        times = []
        for _ in range(rounds):
            t = time.monotonic()
            d.call(method, req, timeout=60)
            times.append(time.monotonic() - t)
        print("  %-20s (%d) p50 %7.2f ms  p90 %7.2f ms" % (method, n, ms(times, 50), ms(times, 90)))


def list_and_exec(d, image, made):
    time_lists(len(made), 50, d)
    cid = made[0][1]
    times = []
    for _ in range(50):
        t = time.monotonic()
        d.call("ExecSync", pb().ExecSyncRequest(container_id=cid, cmd=["true"], timeout=10), timeout=30)
        times.append(time.monotonic() - t)
    print("  ExecSync true                p50 %7.2f ms  p90 %7.2f ms" % (ms(times, 50), ms(times, 90)))


def many_created(d, image, made, total):
    extra = []
    pod, _ = made[0]
    cfg = pod_config("many-0", host_network=True)
    for i in range(total - len(made)):
        extra.append(create(d, pod, cfg, image, "x%d" % i, ["true"]))
    n = len(d.call("ListContainers", pb().ListContainersRequest()).containers)
    time_lists(n, 20, d)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--running", type=int, default=50)
    args = ap.parse_args()
    with il.Registry() as reg:
        il.build_busybox_image(reg, "bench/busybox", "v1")
        image = "%s/bench/busybox:v1" % reg.host
        d = Crispd()
        try:
            d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
            print("containers:")
            lifecycle(d, image, args.pods)
            made = many_running(d, image, args.running)
            list_and_exec(d, image, made)
            many_created(d, image, made, 500)
            for pod, _ in made:
                remove_pod(d, pod)
        finally:
            d.stop()
            d.cleanup()


if __name__ == "__main__":
    main()
