"""crispd's own Prometheus endpoint (metrics.address, metrics.port), scraped with curl."""
import re
import subprocess

import grpc
import pytest

import imagelib as il
from conftest import pb
from podlib import pod_config, remove_pod, run_pod


def scrape(port, path="/metrics"):
    r = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{content_type}",
                        "http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True, timeout=30)
    body, _, status = r.stdout.rpartition("\n")
    return status, body


def value(body, series):
    """The value of one series line, given as name{labels} exactly as rendered."""
    m = re.search(r"^%s (\S+)$" % re.escape(series), body, re.M)
    return float(m.group(1)) if m else None


def test_off_by_default(crispd):
    assert "metrics on" not in crispd.log()


def test_metrics_endpoint(crispd_factory):
    port = il.free_port()
    d = crispd_factory(config={"metrics": {"address": "127.0.0.1", "port": port}})
    assert "metrics on http://127.0.0.1:%d/metrics" % port in d.log()
    for _ in range(3):
        d.call("Version", pb().VersionRequest())
    with pytest.raises(grpc.RpcError):
        d.call("ContainerStatus", pb().ContainerStatusRequest(container_id="f" * 64))
    with il.Registry() as reg:
        il.build_busybox_image(reg, "library/busybox", "m")
        d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image="%s/library/busybox:m" % reg.host)),
               timeout=120)
    pod = run_pod(d, pod_config("metrics-pod", host_network=True))
    try:
        status, body = scrape(port)
    finally:
        remove_pod(d, pod)
    assert status == "200 text/plain; version=0.0.4; charset=utf-8"
    svc = 'grpc_service="runtime.v1.RuntimeService",grpc_type="unary"'
    # The harness's readiness check was a Version call too.
    assert value(body, 'grpc_server_handled_total{grpc_code="OK",grpc_method="Version",%s}' % svc) == 4
    assert value(body, 'grpc_server_handled_total{grpc_code="NotFound",grpc_method="ContainerStatus",%s}'
                 % svc) == 1
    assert value(body, 'grpc_server_handling_seconds_count{grpc_method="Version",%s}' % svc) == 4
    assert value(body, 'grpc_server_handling_seconds_bucket{grpc_method="Version",%s,le="+Inf"}' % svc) == 4
    assert "# TYPE grpc_server_handling_seconds histogram" in body
    assert value(body, 'crisp_image_pulls_total{result="success"}') == 1
    assert value(body, "crisp_image_pull_bytes_total") > 0
    assert value(body, 'crisp_pods{state="ready"}') == 1
    assert value(body, 'crisp_containers{state="running"}') == 0
    assert value(body, "crisp_monitors_alive") == 0
    assert value(body, "process_resident_memory_bytes") > 1 << 20
    assert value(body, "process_open_fds") > 3 and value(body, "process_threads") >= 2
    assert scrape(port, "/other")[0].startswith("404")
