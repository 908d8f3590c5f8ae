"""e2e harness: a real crispd on temporary roots and socket, spoken to over gRPC with messages
generated from proto/api.proto by protoc at test time."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import grpc
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRISPD = os.environ.get("CRISPD", os.path.join(REPO, "build", "crispd"))
TMP_PREFIX = "crisp-e2e-"
# The cgroup driver of every crispd the suite starts (vm/run.sh --driver sets it): "systemd" runs the
# suite as on a kubeadm node, with pods below a slice instead of a cgroupfs path.
CGROUP_DRIVER = os.environ.get("CRISP_E2E_CGROUP_DRIVER", "cgroupfs")

# Every crispd any test started, for the final leak check.
STARTED_PIDS = []
_pb = None


def pb():
    """The api_pb2 module, generated once per session from proto/api.proto."""
    global _pb
    if _pb is None:
        out = tempfile.mkdtemp(prefix=TMP_PREFIX + "pb-")
        subprocess.run(["protoc", "-I" + os.path.join(REPO, "proto"), "--python_out=" + out, "api.proto"],
                       check=True)
        sys.path.insert(0, out)
        import api_pb2
        _pb = api_pb2
        sys.path.remove(out)
        shutil.rmtree(out)
    return _pb


def response_class(method_path):
    """The response message class of a method path such as /runtime.v1.RuntimeService/Version."""
    _, service, method = method_path.split("/")
    desc = pb().DESCRIPTOR.services_by_name[service.split(".")[-1]].methods_by_name[method]
    return getattr(pb(), desc.output_type.name)


class Crispd:
    """One crispd process on its own temporary directory."""

    def __init__(self, config=None, args=(), env=None, start=True):
        self.dir = tempfile.mkdtemp(prefix=TMP_PREFIX)
        self.sock = os.path.join(self.dir, "crisp.sock")
        self.state = os.path.join(self.dir, "state")
        self.root = os.path.join(self.dir, "root")
        self.cni_dir = os.path.join(self.dir, "cni")
        os.mkdir(self.cni_dir)
        self.config_path = os.path.join(self.dir, "crisp.json")
        # Pods that name no cgroup parent go below a parent of this test's own. With the systemd driver
        # that is a slice without dashes, so it sits at the top like kubepods.slice and its path below
        # the cgroup root is "/" + its name (default_cgroup_parent must be absolute).
        name = os.path.basename(self.dir)
        if CGROUP_DRIVER == "systemd":
            self.slice = name.replace("-", "_") + ".slice"
            self.cgroup_parent = "/" + self.slice
        else:
            self.slice = None
            self.cgroup_parent = "/" + name
        cfg = {"cni": {"conf_dir": self.cni_dir}, "default_cgroup_parent": self.cgroup_parent}
        if CGROUP_DRIVER != "cgroupfs":
            cfg["cgroup_driver"] = CGROUP_DRIVER
        # What a test that rewrites the file starts from, so it keeps the driver and the parent.
        self.base_config = dict(cfg)
        cfg.update(config or {})
        self.write_config(cfg)
        self.args = list(args)
        self.env = dict(os.environ, CRISP_TEST_HOOKS="1")
        self.env.update(env or {})
        self.proc = None
        self.channel = None
        if start:
            self.start()

    def pod_cgroup(self, pod_id):
        """The cgroup path (below the hierarchy's root) of a pod that named no cgroup parent: as
        rt_cgroup_pod_default_path makes it for the driver."""
        if self.slice:
            stem = self.slice[:-len(".slice")]
            return "%s/%s-pod%s.slice" % (self.cgroup_parent, stem, pod_id[:12])
        return "%s/pod-%s" % (self.cgroup_parent, pod_id[:12])

    def write_config(self, cfg):
        with open(self.config_path, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))

    def command(self):
        return [CRISPD, "--config", self.config_path, "--listen", "unix://" + self.sock,
                "--state", self.state, "--root", self.root] + self.args

    def start(self, wait=True):
        self.log_path = os.path.join(self.dir, "crispd.log")
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.log_file, stderr=self.log_file, env=self.env)
        STARTED_PIDS.append(self.proc.pid)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("crispd exited %d: %s" % (self.proc.returncode, self.log()))
            if os.path.exists(self.sock):
                try:
                    self.call("Version", pb().VersionRequest(), timeout=2)
                    return
                except grpc.RpcError:
                    pass
            time.sleep(0.05)
        raise AssertionError("crispd did not become ready: " + self.log())

    def chan(self):
        if self.channel is None:
            self.channel = grpc.insecure_channel("unix://" + self.sock)
        return self.channel

    def path(self, method):
        if method.startswith("/"):
            return method
        service = "ImageService" if method in IMAGE_METHODS else "RuntimeService"
        return "/runtime.v1.%s/%s" % (service, method)

    def call(self, method, request, timeout=10, metadata=None):
        path = self.path(method)
        stub = self.chan().unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=response_class(path).FromString)
        return stub(request, timeout=timeout, metadata=metadata)

    def call_future(self, method, request, timeout=30, metadata=None):
        path = self.path(method)
        stub = self.chan().unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=response_class(path).FromString)
        return stub.future(request, timeout=timeout, metadata=metadata)

    def call_raw(self, method, payload, timeout=10):
        stub = self.chan().unary_unary(self.path(method))
        return stub(payload, timeout=timeout)

    def stream(self, method, request, timeout=None, metadata=None):
        path = self.path(method)
        stub = self.chan().unary_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=response_class(path).FromString)
        return stub(request, timeout=timeout, metadata=metadata)

    def log(self):
        if getattr(self, "final_log", None) is not None:
            return self.final_log
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except (OSError, AttributeError):
            return ""

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops crispd with sig and returns its exit status."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("crispd did not stop within %d s after signal %d" % (timeout, sig))

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.stop(signal.SIGKILL)
        finally:
            if getattr(self, "log_file", None):
                self.log_file.close()
            self.final_log = self.log()
            shutil.rmtree(self.dir, ignore_errors=True)
            self.remove_cgroup_parent()

    def remove_cgroup_parent(self):
        """The default cgroup parent is the harness's, like kubelet's /kubepods: crispd leaves it. Only an
        empty one goes (rmdir); pod cgroups left inside keep it, for the leak check to find. A slice (the
        systemd driver) is stopped only when empty too: stopping one stops every unit inside."""
        if self.slice:
            path = "/sys/fs/cgroup" + self.cgroup_parent
            entries = os.listdir(path) if os.path.isdir(path) else []
            if not any(os.path.isdir(os.path.join(path, e)) for e in entries):
                try:
                    subprocess.run(["systemctl", "stop", self.slice], capture_output=True, timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        for ctrl in ["/sys/fs/cgroup"] + glob.glob("/sys/fs/cgroup/*"):  # v2's one tree, or v1's controllers
            try:
                os.rmdir(ctrl + self.cgroup_parent)
            except OSError:
                pass


SANITIZER_REPORT = "ERROR: AddressSanitizer"
IMAGE_METHODS = {"ListImages", "StreamImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"}


def run_crispd(*args, config=None, timeout=20):
    """Runs crispd to completion (for flags and configs that make it exit) and returns the result."""
    return subprocess.run([CRISPD] + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def crispd_factory():
    made = []

    def make(**kw):
        # Listed before it starts, so that a crispd that fails to start still has its directory removed.
        start = kw.pop("start", True)
        d = Crispd(start=False, **kw)
        made.append(d)
        return d.start() if start else d

    yield make
    reports = []
    for d in made:
        d.cleanup()
        reports += [l for l in d.log().splitlines() if SANITIZER_REPORT in l or "runtime error:" in l]
    assert reports == [], "sanitizer reports from crispd:\n" + "\n".join(reports)


@pytest.fixture
def crispd(crispd_factory):
    d = crispd_factory()
    yield d
    assert d.stop() == 0, d.log()


@pytest.fixture
def tmpdir_clean():
    d = tempfile.mkdtemp(prefix=TMP_PREFIX)
    yield d
    shutil.rmtree(d, ignore_errors=True)
