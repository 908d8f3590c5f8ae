"""Helpers for pod tests: a CNI network of Debian's real plugins in the test's own config dir, pod
configs, and running commands inside a pod's pinned namespaces (until containers exist)."""
import json
import os
import random
import shutil
import subprocess
import tempfile

from conftest import TMP_PREFIX, pb

CNI_BIN = "/usr/lib/cni"


class BridgeNetwork:
    """A bridge + host-local + portmap network with its own bridge name, subnet and IPAM data dir."""

    def __init__(self, conf_dir, portmap=True):
        # The bridge plugin's isGateway turns on the host's ip_forward: put it back afterwards.
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            self.ip_forward = f.read().strip()
        n = random.randint(1, 250)
        self.bridge = "crisp%d" % n
        self.subnet = "10.213.%d.0/24" % n
        self.ipam_dir = tempfile.mkdtemp(prefix=TMP_PREFIX + "ipam-")
        plugins = [{"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {"type": "host-local", "dataDir": self.ipam_dir,
                             "ranges": [[{"subnet": self.subnet}]], "routes": [{"dst": "0.0.0.0/0"}]}}]
        if portmap:
            plugins.append({"type": "portmap", "capabilities": {"portMappings": True}, "snat": True})
        self.path = os.path.join(conf_dir, "10-crisp-test.conflist")
        with open(self.path, "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "crisp-test", "plugins": plugins}, f)

    def leases(self):
        d = os.path.join(self.ipam_dir, "crisp-test")
        return [n for n in os.listdir(d) if n[0].isdigit()] if os.path.isdir(d) else []

    def cleanup(self):
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
        shutil.rmtree(self.ipam_dir, ignore_errors=True)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(self.ip_forward)


def pod_config(name, uid=None, namespace="default", attempt=0, hostname=None, host_network=False, host_ipc=False,
               shared_pid=False, dns=None, ports=(), sysctls=None, labels=None, annotations=None, cgroup_parent=""):
    NS = pb().NamespaceMode
    opts = pb().NamespaceOption(network=NS.Value("NODE") if host_network else NS.Value("POD"),
                                ipc=NS.Value("NODE") if host_ipc else NS.Value("POD"),
                                pid=NS.Value("POD") if shared_pid else NS.Value("CONTAINER"))
    linux = pb().LinuxPodSandboxConfig(cgroup_parent=cgroup_parent, sysctls=sysctls or {},
                                       security_context=pb().LinuxSandboxSecurityContext(namespace_options=opts))
    return pb().PodSandboxConfig(
        metadata=pb().PodSandboxMetadata(name=name, uid=uid or name + "-uid", namespace=namespace, attempt=attempt),
        hostname=hostname or "", dns_config=dns, linux=linux, labels=labels or {}, annotations=annotations or {},
        port_mappings=[pb().PortMapping(container_port=c, host_port=h, host_ip=ip) for (c, h, ip) in ports])


def run_pod(d, config, timeout=60):
    return d.call("RunPodSandbox", pb().RunPodSandboxRequest(config=config), timeout=timeout).pod_sandbox_id


def stop_pod(d, pod_id):
    d.call("StopPodSandbox", pb().StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=60)


def remove_pod(d, pod_id):
    d.call("RemovePodSandbox", pb().RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=60)


def pod_status(d, pod_id, verbose=False):
    return d.call("PodSandboxStatus", pb().PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=verbose))


def pod_dir(d, pod_id):
    return os.path.join(d.state, "pods", pod_id)


def in_pod(d, pod_id, *cmd, net=True, uts=True, ipc=False, timeout=30, check=True):
    """Runs cmd in the pod's pinned namespaces (nsenter), as containers will run."""
    ns = os.path.join(pod_dir(d, pod_id), "ns")
    args = ["nsenter"]
    if net:
        args.append("--net=" + os.path.join(ns, "net"))
    if uts:
        args.append("--uts=" + os.path.join(ns, "uts"))
    if ipc:
        args.append("--ipc=" + os.path.join(ns, "ipc"))
    r = subprocess.run(args + list(cmd), capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def veths():
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True).stdout
    return sorted(l.split(":")[1].strip().split("@")[0] for l in out.splitlines())


def mounts_under(path):
    with open("/proc/self/mounts") as f:
        return [l.split()[1] for l in f if l.split()[1].startswith(path)]
