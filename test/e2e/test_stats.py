"""Container and pod stats, metrics and the streaming list RPCs, against workloads of known behaviour:
a CPU burner, a 64 MiB allocation, a 16 MiB write to the writable layer, 1 MB sent between two pods."""
import os
import time

import pytest

import imagelib as il
from conftest import pb
from podlib import BridgeNetwork, pod_config, pod_status, remove_pod, run_pod, stop_pod

MiB = 1 << 20


@pytest.fixture(scope="module")
def registry():
    r = il.Registry()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def image(registry):
    il.build_busybox_image(registry, "library/busybox", "stats")
    return "%s/library/busybox:stats" % registry.host


def pull(d, image):
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)


@pytest.fixture
def pod(crispd, image):
    pull(crispd, image)
    cfg = pod_config("stats-pod", host_network=True, labels={"tier": "stats"})
    cfg.log_directory = os.path.join(crispd.dir, "logs")
    os.makedirs(cfg.log_directory, exist_ok=True)
    pod_id = run_pod(crispd, cfg)
    yield crispd, pod_id, cfg, image
    remove_pod(crispd, pod_id)


def run(d, pod_id, cfg, image, name, script, labels=None):
    config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name=name), image=pb().ImageSpec(image=image),
                                  command=["sh", "-c", script], log_path=name + ".log",
                                  labels=labels or {"app": name})
    req = pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=cfg)
    cid = d.call("CreateContainer", req, timeout=60).container_id
    d.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)
    return cid


def container_stats(d, cid):
    return d.call("ContainerStats", pb().ContainerStatsRequest(container_id=cid)).stats


def wait_for(what, fn, timeout=40, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            assert value, "timed out waiting for " + what
            return value
        time.sleep(interval)


def test_cpu_burner_shows_about_one_core(pod):
    d, pod_id, cfg, image = pod
    cid = run(d, pod_id, cfg, image, "burn", "while :; do :; done")
    first = container_stats(d, cid)
    assert first.attributes.id == cid and first.attributes.metadata.name == "burn"
    assert first.attributes.labels["app"] == "burn"
    time.sleep(2)
    second = container_stats(d, cid)
    assert second.cpu.usage_core_nano_seconds.value > first.cpu.usage_core_nano_seconds.value
    cores = second.cpu.usage_nano_cores.value / 1e9
    assert 0.5 < cores < 1.3, cores
    assert second.cpu.timestamp > first.cpu.timestamp


def test_memory_working_set_above_an_allocation(pod):
    d, pod_id, cfg, image = pod
    # tmpfs pages are anonymous memory charged to the writer: they count in the working set.
    cid = run(d, pod_id, cfg, image, "mem", "head -c %d /dev/zero > /dev/shm/fill && touch /tmp/done && sleep 600"
              % (64 * MiB))
    m = wait_for("the allocation", lambda: (lambda s: s if s.working_set_bytes.value > 64 * MiB else None)(
        container_stats(d, cid).memory))
    assert m.usage_bytes.value >= m.working_set_bytes.value
    assert m.rss_bytes.value > 0 and m.page_faults.value > 0
    assert not m.HasField("available_bytes")          # no limit set


def test_writable_layer_usage(pod):
    d, pod_id, cfg, image = pod
    cid = run(d, pod_id, cfg, image, "disk", "head -c %d /dev/urandom > /big && sleep 600" % (16 * MiB))
    layer = wait_for("the writable layer figure", lambda: (
        lambda s: s.writable_layer if s.writable_layer.used_bytes.value > 16 * MiB else None)(container_stats(d, cid)))
    assert layer.inodes_used.value >= 1 and layer.fs_id.mountpoint
    fs = d.call("ImageFsInfo", pb().ImageFsInfoRequest())
    assert fs.container_filesystems[0].fs_id.mountpoint == layer.fs_id.mountpoint
    assert fs.container_filesystems[0].used_bytes.value >= layer.used_bytes.value


def test_filters_select_exactly_what_they_name(pod):
    d, pod_id, cfg, image = pod
    a = run(d, pod_id, cfg, image, "a", "sleep 600", labels={"app": "a", "x": "1"})
    b = run(d, pod_id, cfg, image, "b", "sleep 600", labels={"app": "b", "x": "1"})

    def ids(**f):
        req = pb().ListContainerStatsRequest(filter=pb().ContainerStatsFilter(**f))
        return sorted(s.attributes.id for s in d.call("ListContainerStats", req).stats)

    assert ids() == sorted([a, b])
    assert ids(id=a) == [a]
    assert ids(pod_sandbox_id=pod_id) == sorted([a, b])
    assert ids(pod_sandbox_id="0" * 64) == []
    assert ids(label_selector={"app": "b"}) == [b]
    assert ids(label_selector={"x": "1"}) == sorted([a, b])
    assert ids(label_selector={"x": "2"}) == []
    streamed = [s.attributes.id for r in d.stream("StreamContainerStats", pb().StreamContainerStatsRequest(),
                                                  timeout=10) for s in r.container_stats]
    assert sorted(streamed) == sorted([a, b])

    def pod_ids(**f):
        req = pb().ListPodSandboxStatsRequest(filter=pb().PodSandboxStatsFilter(**f))
        return [s.attributes.id for s in d.call("ListPodSandboxStats", req).stats]

    assert pod_ids() == [pod_id] and pod_ids(id=pod_id) == [pod_id]
    assert pod_ids(label_selector={"tier": "stats"}) == [pod_id] and pod_ids(label_selector={"tier": "x"}) == []
    ps = d.call("PodSandboxStats", pb().PodSandboxStatsRequest(pod_sandbox_id=pod_id)).stats
    assert sorted(c.attributes.id for c in ps.linux.containers) == sorted([a, b])
    assert ps.linux.cpu.usage_core_nano_seconds.value > 0 and ps.linux.memory.working_set_bytes.value > 0
    assert ps.linux.process.process_count.value >= 2
    assert not ps.linux.HasField("network")             # a pod on the host network has no counters of its own


def test_exited_container_and_stopped_pod_still_answer(pod):
    d, pod_id, cfg, image = pod
    cid = run(d, pod_id, cfg, image, "done", "exit 0")
    wait_for("the exit", lambda: d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid))
             .status.state == pb().CONTAINER_EXITED)
    s = container_stats(d, cid)
    assert s.attributes.id == cid
    stop_pod(d, pod_id)
    ps = d.call("PodSandboxStats", pb().PodSandboxStatsRequest(pod_sandbox_id=pod_id)).stats
    assert ps.attributes.id == pod_id and [c.attributes.id for c in ps.linux.containers] == [cid]


def test_unknown_ids_are_not_found(crispd):
    import grpc
    for method, req in (("ContainerStats", pb().ContainerStatsRequest(container_id="f" * 64)),
                        ("PodSandboxStats", pb().PodSandboxStatsRequest(pod_sandbox_id="f" * 64))):
        with pytest.raises(grpc.RpcError) as e:
            crispd.call(method, req)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.fixture
def two_pods(crispd, image):
    net = BridgeNetwork(crispd.cni_dir, portmap=False)
    pull(crispd, image)
    pods = []
    try:
        for name in ("sender", "receiver"):
            cfg = pod_config(name)
            cfg.log_directory = os.path.join(crispd.dir, "logs-" + name)
            os.makedirs(cfg.log_directory, exist_ok=True)
            pods.append((run_pod(crispd, cfg), cfg))
        yield crispd, pods
    finally:
        for pod_id, _ in pods:
            remove_pod(crispd, pod_id)
        net.cleanup()


def test_pod_network_counters(two_pods, image):
    d, [(sender, scfg), (receiver, rcfg)] = two_pods
    ip = pod_status(d, receiver).status.network.ip
    # nc ends when its stdin does: the listener keeps a stdin that stays open.
    run(d, receiver, rcfg, image, "listen", "sleep 600 | nc -l -p 8080 > /dev/null")
    run(d, sender, scfg, image, "send",
        "while ! head -c %d /dev/zero | nc %s 8080; do sleep 0.2; done; sleep 600" % (MiB, ip))

    def net(pod_id):
        return d.call("PodSandboxStats", pb().PodSandboxStatsRequest(pod_sandbox_id=pod_id)).stats.linux.network

    tx = wait_for("the sender's counters", lambda: (lambda n: n if n.default_interface.tx_bytes.value > MiB else None)(
        net(sender)))
    rx = wait_for("the receiver's counters", lambda: (lambda n: n if n.default_interface.rx_bytes.value > MiB else None)(
        net(receiver)))
    assert tx.default_interface.name == "eth0" and rx.default_interface.name == "eth0"
    assert tx.default_interface.rx_bytes.value > 0 and tx.default_interface.tx_errors.value == 0
    assert "lo" not in [i.name for i in tx.interfaces]
    # The same counters as cAdvisor metrics, labelled by interface.
    metrics = {m.pod_sandbox_id: m for m in d.call("ListPodSandboxMetrics", pb().ListPodSandboxMetricsRequest())
               .pod_metrics}
    sent = [m for m in metrics[sender].metrics if m.name == "container_network_transmit_bytes_total"
            and m.label_values[-1] == "eth0"]
    assert sent and sent[0].value.value > MiB and sent[0].metric_type == pb().COUNTER


def test_metric_descriptors_and_pod_metrics(pod):
    d, pod_id, cfg, image = pod
    cid = run(d, pod_id, cfg, image, "m", "sleep 600")
    descs = {x.name: list(x.label_keys) for x in d.call("ListMetricDescriptors",
                                                         pb().ListMetricDescriptorsRequest()).descriptors}
    for name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_memory_rss",
                 "container_network_receive_bytes_total", "container_fs_usage_bytes"):
        assert name in descs and descs[name][:3] == ["id", "name", "image"]
    assert descs["container_cpu_usage_seconds_total"] == ["id", "name", "image", "cpu"]
    [pm] = d.call("ListPodSandboxMetrics", pb().ListPodSandboxMetricsRequest()).pod_metrics
    assert pm.pod_sandbox_id == pod_id
    [cm] = pm.container_metrics
    by_name = {m.name: m for m in cm.metrics}
    ws = by_name["container_memory_working_set_bytes"]
    assert cm.container_id == cid and list(ws.label_values) == [cid, "m", image] and ws.value.value > 0
    assert ws.metric_type == pb().GAUGE
    for m in cm.metrics:
        assert len(m.label_values) == len(descs[m.name]), m.name


def test_streaming_lists_match_the_lists(pod):
    d, pod_id, cfg, image = pod
    cid = run(d, pod_id, cfg, image, "s", "sleep 600")
    pods = [p.id for r in d.stream("StreamPodSandboxes", pb().StreamPodSandboxesRequest(), timeout=10)
            for p in r.pod_sandboxes]
    ctrs = [c.id for r in d.stream("StreamContainers", pb().StreamContainersRequest(), timeout=10)
            for c in r.containers]
    imgs = [i.id for r in d.stream("StreamImages", pb().StreamImagesRequest(), timeout=10) for i in r.images]
    assert pods == [pod_id] and ctrs == [cid]
    assert imgs == [i.id for i in d.call("ListImages", pb().ListImagesRequest()).images] and imgs
    filtered = [c.id for r in d.stream("StreamContainers", pb().StreamContainersRequest(
        filter=pb().ContainerFilter(id="0" * 64)), timeout=10) for c in r.containers]
    assert filtered == []
