"""Version, Status, RuntimeConfig, UpdateRuntimeConfig; every CRI method registered; bad input."""
import json
import os

import grpc
import pytest

from conftest import pb

CNI_CONFLIST = {
    "cniVersion": "1.0.0",
    "name": "crisp-test",
    "plugins": [{"type": "bridge", "bridge": "crisp0"}, {"type": "portmap", "capabilities": {"portMappings": True}}],
}


def test_version(crispd):
    r = crispd.call("Version", pb().VersionRequest(version="v1"))
    assert r.runtime_name == "crisp"
    assert r.runtime_api_version == "v1"
    assert r.version == "0.1.0"
    assert r.runtime_version.startswith("0.1.0")


def conditions(resp):
    return {c.type: c for c in resp.status.conditions}


def test_status_conditions(crispd):
    r = crispd.call("Status", pb().StatusRequest())
    conds = conditions(r)
    assert conds["RuntimeReady"].status is True
    net = conds["NetworkReady"]
    assert net.status is False
    assert net.reason == "NetworkPluginNotReady"
    assert crispd.cni_dir in net.message
    assert len(r.info) == 0
    assert [h.name for h in r.runtime_handlers] == [""]


def test_network_ready_follows_cni_config_without_restart(crispd):
    bad = os.path.join(crispd.cni_dir, "05-bad.conflist")
    with open(bad, "w") as f:
        f.write('{"cniVersion": "1.0.0", "name": "x", "plugins": []}')
    net = conditions(crispd.call("Status", pb().StatusRequest()))["NetworkReady"]
    assert net.status is False and "05-bad.conflist" in net.message and "non-empty" in net.message
    os.unlink(bad)
    with open(os.path.join(crispd.cni_dir, "10-crisp.conflist"), "w") as f:
        json.dump(CNI_CONFLIST, f)
    net = conditions(crispd.call("Status", pb().StatusRequest()))["NetworkReady"]
    assert net.status is True and net.reason == ""


def test_status_verbose_has_effective_config(crispd):
    r = crispd.call("Status", pb().StatusRequest(verbose=True))
    cfg = json.loads(r.info["config"])
    assert cfg["listen"] == crispd.sock
    assert cfg["state"] == crispd.state
    assert cfg["cni"]["conf_dir"] == crispd.cni_dir
    runtime = json.loads(r.info["runtime"])
    assert runtime["podCIDR"] == ""


@pytest.mark.parametrize("driver,expected", [("cgroupfs", "CGROUPFS"), ("systemd", "SYSTEMD")])
def test_runtime_config_reports_cgroup_driver(crispd_factory, driver, expected):
    if driver == "systemd" and not os.path.exists("/run/systemd/system"):
        pytest.skip("the systemd driver needs systemd (test_pods.py checks the refusal without it)")
    d = crispd_factory(config={"cgroup_driver": driver})
    r = d.call("RuntimeConfig", pb().RuntimeConfigRequest())
    assert r.linux.cgroup_driver == pb().CgroupDriver.Value(expected)
    assert d.stop() == 0


def update_cidr(d, cidr):
    req = pb().UpdateRuntimeConfigRequest(
        runtime_config=pb().RuntimeConfig(network_config=pb().NetworkConfig(pod_cidr=cidr)))
    return d.call("UpdateRuntimeConfig", req)


def pod_cidr(d):
    return json.loads(d.call("Status", pb().StatusRequest(verbose=True)).info["runtime"])["podCIDR"]


def test_update_runtime_config_keeps_pod_cidr_across_restart(crispd):
    update_cidr(crispd, "10.88.0.0/16,fd00:88::/64")
    assert pod_cidr(crispd) == "10.88.0.0/16,fd00:88::/64"
    update_cidr(crispd, "")  # empty changes nothing
    assert pod_cidr(crispd) == "10.88.0.0/16,fd00:88::/64"
    assert crispd.stop() == 0
    crispd.start()
    assert pod_cidr(crispd) == "10.88.0.0/16,fd00:88::/64"


@pytest.mark.parametrize("cidr", ["10.0.0.0", "10.0.0.0/33", "fd00::/129", "banana/8", "10.0.0.0/8,", "'\"/8"])
def test_update_runtime_config_rejects_bad_cidr(crispd, cidr):
    with pytest.raises(grpc.RpcError) as e:
        update_cidr(crispd, cidr)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pod_cidr" in e.value.details()
    assert pod_cidr(crispd) == ""


IMPLEMENTED = {"Version", "Status", "RuntimeConfig", "UpdateRuntimeConfig", "GetContainerEvents",
               "PullImage", "ImageStatus", "ListImages", "RemoveImage", "ImageFsInfo",
               "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus", "ListPodSandbox",
               "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer", "ContainerStatus",
               "ListContainers", "ExecSync", "UpdateContainerResources", "ReopenContainerLog",
               "Exec", "Attach", "PortForward", "ContainerStats", "ListContainerStats", "StreamContainerStats",
               "PodSandboxStats", "ListPodSandboxStats", "StreamPodSandboxStats", "ListMetricDescriptors",
               "ListPodSandboxMetrics", "StreamPodSandboxMetrics", "StreamPodSandboxes", "StreamContainers",
               "StreamImages", "UpdatePodSandboxResources"}


def all_methods():
    for service in pb().DESCRIPTOR.services_by_name.values():
        for m in service.methods:
            yield "/%s/%s" % (service.full_name, m.name), m


def test_proto_has_every_cri_method():
    methods = {path.split("/")[-1] for path, _ in all_methods()}
    assert len(methods) == 43
    for name in ("GetContainerEvents", "RuntimeConfig", "UpdatePodSandboxResources", "ListMetricDescriptors",
                 "ListPodSandboxMetrics", "CheckpointContainer", "StreamPodSandboxes", "StreamImages",
                 "CheckpointPod", "RestorePod"):
        assert name in methods


def test_every_unimplemented_method_answers_unimplemented_naming_it(crispd):
    count = 0
    for path, m in all_methods():
        if m.name in IMPLEMENTED:
            continue
        req = getattr(pb(), m.input_type.name)()
        with pytest.raises(grpc.RpcError) as e:
            if m.server_streaming if hasattr(m, "server_streaming") else m.name.startswith("Stream"):
                for _ in crispd.stream(path, req, timeout=5):
                    pass
            else:
                crispd.call(path, req, timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED, path
        assert path in e.value.details()
        count += 1
    assert count == 43 - len(IMPLEMENTED)


def test_unknown_methods_are_unimplemented(crispd):
    for path in ("/runtime.v1.RuntimeService/NoSuchThing", "/runtime.v1alpha2.RuntimeService/Version",
                 "/x/" + "y" * 300):
        with pytest.raises(grpc.RpcError) as e:
            crispd.call_raw(path, b"")
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "unknown method" in e.value.details()


@pytest.mark.parametrize("payload", [b"\xff", b"\x0a\x05ab", b"\x0a\xff\xff\xff\xff\x0f", b"\x08" + b"\xff" * 11,
                                     b"\x0b\x0a"])
def test_malformed_protobuf_is_invalid_argument(crispd, payload):
    with pytest.raises(grpc.RpcError) as e:
        crispd.call_raw("Version", payload)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed runtime.v1.VersionRequest" in e.value.details()
    assert crispd.call("Version", pb().VersionRequest()).runtime_name == "crisp"


def test_message_over_16_mib_is_refused(crispd):
    big = pb().VersionRequest(version="x" * (16 * 1024 * 1024 + 10))
    with pytest.raises(grpc.RpcError) as e:
        crispd.call("Version", big, timeout=30)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Just under the limit passes.
    ok = pb().VersionRequest(version="x" * (16 * 1024 * 1024 - 100))
    assert crispd.call("Version", ok, timeout=30).runtime_name == "crisp"


def test_checkpoint_and_restore_answer_unimplemented_naming_the_method(crispd):
    for name, req in (("CheckpointContainer", pb().CheckpointContainerRequest(container_id="x")),
                      ("CheckpointPod", pb().CheckpointPodRequest(pod_sandbox_id="x", path="/tmp/x")),
                      ("RestorePod", pb().RestorePodRequest(path="/tmp/x"))):
        path = "/runtime.v1.RuntimeService/" + name
        with pytest.raises(grpc.RpcError) as e:
            crispd.call(path, req, timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert path in e.value.details()


def test_status_advertises_mount_options(crispd):
    resp = crispd.call("/runtime.v1.RuntimeService/Status", pb().StatusRequest(), timeout=10)
    assert resp.features.mount_options
