#!/usr/bin/python3
"""Pod benchmark: RunPodSandbox, StopPodSandbox and RemovePodSandbox p50/p90 over N pods, on the host
network and with the CNI bridge, beside the CNI plugins' own ADD+DEL time for the same network (run
directly on a netns made with `ip netns`). Prints figures; asserts nothing."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))

from conftest import Crispd  # noqa: E402
from podlib import BridgeNetwork, pod_config, remove_pod, run_pod, stop_pod  # noqa: E402


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] * 1000


def report(label, values):
    print("  %-28s p50 %7.2f ms   p90 %7.2f ms" % (label, pct(values, 50), pct(values, 90)))


def bench_pods(d, n, host_network):
    run, stop, rm = [], [], []
    for i in range(n):
        cfg = pod_config("bench-%d" % i, host_network=host_network)
        t = time.monotonic()
        pod = run_pod(d, cfg)
        run.append(time.monotonic() - t)
        t = time.monotonic()
        stop_pod(d, pod)
        stop.append(time.monotonic() - t)
        t = time.monotonic()
        remove_pod(d, pod)
        rm.append(time.monotonic() - t)
    return run, stop, rm


def plugin(conf, name, command, netns, container_id, prev=None):
    plugins = {"bridge": conf["plugins"][0], "portmap": conf["plugins"][1], "loopback": {"type": "loopback"}}
    cfg = dict(plugins[name])
    cfg.update(name=conf["name"], cniVersion=conf["cniVersion"])
    if prev:
        cfg["prevResult"] = prev
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
           "CNI_IFNAME": "lo" if name == "loopback" else "eth0",
           "CNI_PATH": "/usr/lib/cni", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    r = subprocess.run(["/usr/lib/cni/" + cfg["type"]], input=json.dumps(cfg), env=env, capture_output=True,
                       text=True, check=True)
    return json.loads(r.stdout) if r.stdout.strip() else None


def bench_plugins(net, n):
    """The same plugins crisp runs (loopback, bridge, portmap), run directly: ADD and DEL apart."""
    with open(net.path) as f:
        conf = json.load(f)
    adds, dels = [], []
    for i in range(n):
        name = "crisp-bench-%d-%d" % (os.getpid(), i)
        subprocess.run(["ip", "netns", "add", name], check=True)
        netns = "/run/netns/" + name
        try:
            t = time.monotonic()
            plugin(conf, "loopback", "ADD", netns, name)
            res = plugin(conf, "bridge", "ADD", netns, name)
            res = plugin(conf, "portmap", "ADD", netns, name, res)
            adds.append(time.monotonic() - t)
            t = time.monotonic()
            plugin(conf, "portmap", "DEL", netns, name, res)
            plugin(conf, "bridge", "DEL", netns, name, res)
            plugin(conf, "loopback", "DEL", netns, name)
            dels.append(time.monotonic() - t)
        finally:
            subprocess.run(["ip", "netns", "delete", name], check=True)
    return adds, dels


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pods", type=int, default=50)
    args = ap.parse_args()
    d = Crispd()
    net = None
    try:
        print("pods: %d each" % args.pods)
        run, stop, rm = bench_pods(d, args.pods, True)
        report("host network Run", run)
        report("host network Stop", stop)
        report("host network Remove", rm)
        net = BridgeNetwork(d.cni_dir)
        run, stop, rm = bench_pods(d, args.pods, False)
        report("CNI bridge Run", run)
        report("CNI bridge Stop", stop)
        report("CNI bridge Remove", rm)
        adds, dels = bench_plugins(net, args.pods)
        report("plugins' own ADD", adds)
        report("plugins' own DEL", dels)
    finally:
        d.stop()
        d.cleanup()
        if net:
            net.cleanup()


if __name__ == "__main__":
    main()
