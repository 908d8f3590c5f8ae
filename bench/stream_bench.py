#!/usr/bin/python3
"""Streaming benchmark: Exec round trip (Exec RPC for the URL, connect and upgrade to SPDY, run `true`,
read the status) p50/p90 against ExecSync for the same command, and port-forward throughput (MB/s
through one stream to a pod's port, a sink that counts bytes). Prints figures; asserts nothing."""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))

import imagelib as il  # noqa: E402
import streamclient as sc  # noqa: E402
from conftest import Crispd, pb  # noqa: E402
from podlib import BridgeNetwork, pod_config, remove_pod, run_pod  # noqa: E402


def ms(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] * 1000


def container(d, pod_id, cfg, image, name, command):
    config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name=name), image=pb().ImageSpec(image=image),
                                  command=command)
    cid = d.call("CreateContainer", pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                                sandbox_config=cfg), timeout=60).container_id
    d.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)
    return cid


def exec_round_trips(d, cid, n):
    rtt, sync = [], []
    for _ in range(n):
        t0 = time.monotonic()
        url = d.call("Exec", pb().ExecRequest(container_id=cid, cmd=["true"], stdout=True, stderr=True)).url
        _, _, st = sc.exec_spdy(url)
        rtt.append(time.monotonic() - t0)
        assert sc.exit_code(st) == 0, st
    for _ in range(n):
        t0 = time.monotonic()
        d.call("ExecSync", pb().ExecSyncRequest(container_id=cid, cmd=["true"], timeout=10))
        sync.append(time.monotonic() - t0)
    print("exec round trip (Exec + SPDY + `true` + status), %d runs: p50 %.2f ms, p90 %.2f ms" %
          (n, ms(rtt, 50), ms(rtt, 90)))
    print("ExecSync `true` for comparison:               p50 %.2f ms, p90 %.2f ms" % (ms(sync, 50), ms(sync, 90)))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def forward_throughput(d, pod_id, megabytes):
    payload = os.urandom(1 << 20) * megabytes
    best, cpu = 0.0, 0.0
    for _ in range(3):
        c0 = cpu_seconds(d.proc.pid)
        url = d.call("PortForward", pb().PortForwardRequest(pod_sandbox_id=pod_id, port=[9000])).url
        t0 = time.monotonic()
        data, error = sc.portforward_spdy(url, 9000, payload, timeout=120)
        dt = time.monotonic() - t0
        if error or not data.strip().isdigit() or int(data) != len(payload):
            print("port-forward: unexpected answer %r, error %r" % (data[:80], error))
            return
        if megabytes / dt > best:
            best, cpu = megabytes / dt, (cpu_seconds(d.proc.pid) - c0) / dt
    print("port-forward, one SPDY stream to `wc -c` in the pod, %d MB: best of 3 %.1f MB/s "
          "(crispd busy %.0f%% of one core; the Python client is the rest)" % (megabytes, best, cpu * 100))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--execs", type=int, default=100)
    ap.add_argument("--megabytes", type=int, default=64)
    args = ap.parse_args()
    reg = il.Registry()
    d = Crispd()
    net = None
    try:
        il.build_busybox_image(reg, "bench/stream", "v1", cmd=("sleep", "1000"))
        image = "%s/bench/stream:v1" % reg.host
        d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
        net = BridgeNetwork(d.cni_dir, portmap=False)
        cfg = pod_config("stream-bench")
        pod_id = run_pod(d, cfg)
        cid = container(d, pod_id, cfg, image, "c", ["sleep", "1000"])
        exec_round_trips(d, cid, args.execs)
        # A sink that answers each connection with the number of bytes it read.
        container(d, pod_id, cfg, image, "sink", ["sh", "-c", "printf '#!/bin/sh\\nwc -c\\n' > /tmp/count && "
                                                              "chmod +x /tmp/count && exec nc -ll -p 9000 -e /tmp/count"])
        time.sleep(0.5)
        forward_throughput(d, pod_id, args.megabytes)
        remove_pod(d, pod_id)
    finally:
        d.stop()
        d.cleanup()
        if net:
            net.cleanup()
        reg.cleanup()


if __name__ == "__main__":
    main()
