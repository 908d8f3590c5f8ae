"""Exec, Attach and PortForward through the URLs crispd returns, with the test's own SPDY/3.1 and
WebSocket clients (streamclient.py): output and exit codes, terminals and resizes, stdin, attaching
to a running container, port-forwarding to a busybox httpd in a pod, errors, and clients that vanish."""
import contextlib
import os
import socket
import subprocess
import threading
import time
import urllib.parse

import grpc
import pytest

import imagelib as il
import streamclient as sc
from conftest import Crispd, pb
from podlib import BridgeNetwork, pod_config, remove_pod, run_pod
from test_containers import create, start, status, wait_exited


@pytest.fixture(scope="module")
def image():
    r = il.Registry()
    il.build_busybox_image(r, "library/stream", "v1", cmd=("sleep", "1000"))
    yield "%s/library/stream:v1" % r.host
    r.cleanup()


@pytest.fixture
def pod(crispd, image):
    crispd.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    cfg = pod_config("stream", host_network=True)
    cfg.log_directory = os.path.join(crispd.dir, "logs")
    os.makedirs(cfg.log_directory, exist_ok=True)
    pod_id = run_pod(crispd, cfg)
    yield crispd, pod_id, cfg, image
    remove_pod(crispd, pod_id)


def container(pod, name="c", command=("sleep", "1000"), stdin=False, stdin_once=False, tty=False):
    d, pod_id, cfg, image = pod
    config = pb().ContainerConfig(
        metadata=pb().ContainerMetadata(name=name), image=pb().ImageSpec(image=image), command=list(command),
        log_path=name + ".log", stdin=stdin, stdin_once=stdin_once, tty=tty)
    cid = d.call("CreateContainer", pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config,
                                                                 sandbox_config=cfg), timeout=60).container_id
    start(d, cid)
    return cid


def exec_url(d, cid, cmd, tty=False, stdin=False, stdout=True, stderr=True):
    return d.call("Exec", pb().ExecRequest(container_id=cid, cmd=cmd, tty=tty, stdin=stdin, stdout=stdout,
                                           stderr=stderr)).url


def test_exec_without_tty_over_spdy(pod):
    d = pod[0]
    cid = container(pod)
    url = exec_url(d, cid, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert urllib.parse.urlparse(url).hostname == "127.0.0.1"
    out, err, st = sc.exec_spdy(url)
    assert (out, err) == (b"out\n", b"err\n")
    assert sc.exit_code(st) == 3 and st["reason"] == "NonZeroExitCode"
    out, err, st = sc.exec_spdy(exec_url(d, cid, ["echo", "fine"]))
    assert out == b"fine\n" and st == {"metadata": {}, "status": "Success"}


@pytest.mark.parametrize("protocol", ["v4.channel.k8s.io", "v4.base64.channel.k8s.io", "v5.channel.k8s.io",
                                      "channel.k8s.io"])
def test_exec_over_websocket(pod, protocol):
    d = pod[0]
    cid = container(pod)
    out, err, st = sc.exec_ws(exec_url(d, cid, ["sh", "-c", "echo ws; echo e >&2; exit 4"]), protocol=protocol)
    assert (out, err) == (b"ws\n", b"e\n")
    assert sc.exit_code(st) in (4, None if protocol == "channel.k8s.io" else 4)


def test_exec_stdin_is_piped_through(pod):
    d = pod[0]
    cid = container(pod)
    data = b"".join(b"line %d\n" % i for i in range(20000))     # well past any window or buffer
    out, err, st = sc.exec_spdy(exec_url(d, cid, ["cat"], stdin=True), stdin=data)
    assert out == data and sc.exit_code(st) == 0
    out, _, st = sc.exec_ws(exec_url(d, cid, ["wc", "-c"], stdin=True), stdin=b"12345",
                            protocol="v5.channel.k8s.io")
    assert out.strip() == b"5" and sc.exit_code(st) == 0


def test_exec_with_tty_and_resize(pod):
    d = pod[0]
    cid = container(pod)
    url = exec_url(d, cid, ["sh", "-c", "sleep 0.5; busybox stty size; tty"], tty=True, stderr=False)
    out, err, st = sc.exec_spdy(url, tty=True, resize=(100, 37), stderr=False)
    lines = out.replace(b"\r\n", b"\n").decode().split("\n")
    assert lines[0] == "37 100" and lines[1].startswith("/dev/pts/")    # the container's own devpts
    assert sc.exit_code(st) == 0
    out, _, st = sc.exec_ws(exec_url(d, cid, ["sh", "-c", "sleep 0.5; busybox stty size"], tty=True, stderr=False),
                            tty=True, resize=(120, 50))
    assert out.strip() == b"50 120"


def test_exec_of_a_missing_command_reports_it(pod):
    d = pod[0]
    cid = container(pod)
    out, err, st = sc.exec_spdy(exec_url(d, cid, ["no-such-command"]))
    assert sc.exit_code(st) == 127 and b"no-such-command" in err


def test_attach_sees_output_of_a_running_container(pod):
    d = pod[0]
    cid = container(pod, command=("sh", "-c", "sleep 1; for i in 1 2 3 4 5; do echo tick$i; sleep 0.2; done"))
    url = d.call("Attach", pb().AttachRequest(container_id=cid, stdout=True, stderr=True)).url
    out, err, st = sc.attach_spdy(url)
    assert b"tick5\n" in out and sc.exit_code(st) == 0
    assert wait_exited(d, cid).exit_code == 0


def test_attach_stdin_once(pod):
    d = pod[0]
    cid = container(pod, command=("sh", "-c", "cat; echo eof-seen"), stdin=True, stdin_once=True)
    url = d.call("Attach", pb().AttachRequest(container_id=cid, stdin=True, stdout=True, stderr=True)).url
    out, err, st = sc.attach_spdy(url, stdin=b"hello\n")
    # Closing stdin was the first attached client leaving stdin: the container saw EOF and finished.
    assert out == b"hello\neof-seen\n"
    assert wait_exited(d, cid).exit_code == 0


def test_two_clients_attach_at_once(pod):
    d = pod[0]
    cid = container(pod, command=("sh", "-c", "sleep 1.5; echo both"))
    urls = [d.call("Attach", pb().AttachRequest(container_id=cid, stdout=True)).url for _ in range(2)]
    results = [None, None]

    def attach(i):
        results[i] = sc.attach_spdy(urls[i], stderr=False)
    threads = [threading.Thread(target=attach, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r[0] for r in results] == [b"both\n", b"both\n"]


def test_attach_with_a_tty(pod):
    d = pod[0]
    cid = container(pod, command=("sh", "-c", "read x; echo got-$x; tty; busybox stty size"), stdin=True,
                    stdin_once=True, tty=True)
    url = d.call("Attach", pb().AttachRequest(container_id=cid, stdin=True, stdout=True, tty=True)).url
    out, _, st = sc.attach_spdy(url, stdin=b"abc\r", tty=True, resize=(90, 30), stderr=False)
    lines = out.replace(b"\r\n", b"\n").decode().split("\n")
    assert "got-abc" in lines and "/dev/pts/0" in lines and "30 90" in lines


def test_tokens_are_single_use_and_paths_are_checked(pod):
    d = pod[0]
    cid = container(pod)
    url = exec_url(d, cid, ["true"])
    sc.exec_spdy(url)
    assert sc.http_request(url)[0] == 404                       # used
    p = urllib.parse.urlparse(url)
    base = "%s://%s" % (p.scheme, p.netloc)
    assert sc.http_request(base + "/exec/not-a-token")[0] == 404
    assert sc.http_request(base + "/")[0] == 404
    att = d.call("Attach", pb().AttachRequest(container_id=cid, stdout=True)).url
    assert sc.http_request(att.replace("/attach/", "/exec/"))[0] == 404   # a token names its kind


def host_processes(cmdline):
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if f.read().split(b"\0")[:2] == cmdline:
                    found.append(int(pid))
        except OSError:
            pass
    return found


def silent_exec(d, cid, seconds):
    """An exec of `sleep SECONDS` whose SPDY client opens its streams and then sends nothing; returns
    the client once the process runs."""
    url = exec_url(d, cid, ["sleep", seconds], stdin=True)
    client = sc.SpdyClient(url, sc.REMOTECOMMAND_PROTOCOLS, timeout=10)
    for t in ("error", "stdin", "stdout", "stderr"):
        client.open_stream({"streamtype": t})
    deadline = time.monotonic() + 10
    while not host_processes([b"sleep", seconds.encode()]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_processes([b"sleep", seconds.encode()])
    return client


def wait_gone(cmdline, timeout=10):
    deadline = time.monotonic() + timeout
    while host_processes(cmdline) and time.monotonic() < deadline:
        time.sleep(0.05)
    return host_processes(cmdline) == []


def test_a_client_that_vanishes_leaves_no_process(pod):
    d = pod[0]
    cid = container(pod)
    client = silent_exec(d, cid, "7777")
    client.sock.shutdown(socket.SHUT_RDWR)
    client.sock.close()
    assert wait_gone([b"sleep", b"7777"])
    assert status(d, cid).state == pb().CONTAINER_RUNNING


@pytest.mark.parametrize("req,code,text", [
    (dict(cmd=["true"], tty=True, stdout=True, stderr=True), "INVALID_ARGUMENT", "tty and stderr"),
    (dict(cmd=["true"]), "INVALID_ARGUMENT", "one of stdin, stdout, or stderr"),
    (dict(cmd=[], stdout=True), "INVALID_ARGUMENT", "needs a command"),
    (dict(container_id="0" * 64, cmd=["true"], stdout=True), "NOT_FOUND", "not found"),
])
def test_exec_requests_are_checked(pod, req, code, text):
    d = pod[0]
    cid = container(pod)
    req.setdefault("container_id", cid)
    with pytest.raises(grpc.RpcError) as e:
        d.call("Exec", pb().ExecRequest(**req))
    assert e.value.code() == getattr(grpc.StatusCode, code) and text in e.value.details()


def test_exec_and_attach_need_a_running_container(pod):
    d = pod[0]
    cid = container(pod, command=("true",))
    wait_exited(d, cid)
    for method, req in (("Exec", pb().ExecRequest(container_id=cid, cmd=["true"], stdout=True)),
                        ("Attach", pb().AttachRequest(container_id=cid, stdout=True))):
        with pytest.raises(grpc.RpcError) as e:
            d.call(method, req)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture
def net_pod(crispd, image):
    net = BridgeNetwork(crispd.cni_dir, portmap=False)
    crispd.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
    cfg = pod_config("pf")
    cfg.log_directory = os.path.join(crispd.dir, "logs-pf")
    os.makedirs(cfg.log_directory, exist_ok=True)
    pod_id = run_pod(crispd, cfg)
    yield crispd, pod_id, cfg, image
    remove_pod(crispd, pod_id)
    net.cleanup()


def test_port_forward_to_a_pod(net_pod):
    d, pod_id = net_pod[0], net_pod[1]
    cid = container(net_pod, command=("sh", "-c", "mkdir -p /www && echo hello-pf > /www/index.html && "
                                                  "exec httpd -f -p 8080 -h /www"))
    get = b"GET /index.html HTTP/1.0\r\n\r\n"
    deadline = time.monotonic() + 10
    while True:
        url = d.call("PortForward", pb().PortForwardRequest(pod_sandbox_id=pod_id, port=[8080])).url
        data, error = sc.portforward_spdy(url, 8080, get)
        if b"hello-pf" in data or time.monotonic() > deadline:
            break
        time.sleep(0.2)                          # httpd may not listen yet
    assert b"200 OK" in data and b"hello-pf" in data and error == ""
    # Many forwards at once on one connection.
    url = d.call("PortForward", pb().PortForwardRequest(pod_sandbox_id=pod_id, port=[8080])).url
    results = sc.portforward_spdy_many(url, [(8080, get)] * 8)
    assert all(b"hello-pf" in r[0] for r in results)
    # Over WebSocket too.
    url = d.call("PortForward", pb().PortForwardRequest(pod_sandbox_id=pod_id, port=[8080])).url
    data, error = sc.portforward_ws(url, 8080, get)
    assert b"hello-pf" in data
    # The pod's localhost is not the host's: a closed port in the pod reports an error.
    url = d.call("PortForward", pb().PortForwardRequest(pod_sandbox_id=pod_id, port=[8081])).url
    data, error = sc.portforward_spdy(url, 8081, get)
    assert data == b"" and "8081" in error and "refused" in error.lower()
    assert status(d, cid).state == pb().CONTAINER_RUNNING


def test_port_forward_requests_are_checked(net_pod):
    d, pod_id = net_pod[0], net_pod[1]
    with pytest.raises(grpc.RpcError) as e:
        d.call("PortForward", pb().PortForwardRequest(pod_sandbox_id=pod_id, port=[70000]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        d.call("PortForward", pb().PortForwardRequest(pod_sandbox_id="f" * 64, port=[80]))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


@contextlib.contextmanager
def configured_pod(image, config, name):
    """A crispd of its own with the given configuration, and a host-network pod on it."""
    d = Crispd(config=config)
    try:
        d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=image)), timeout=120)
        cfg = pod_config(name, host_network=True)
        cfg.log_directory = os.path.join(d.dir, "logs")
        os.makedirs(cfg.log_directory)
        p = (d, run_pod(d, cfg), cfg, image)
        try:
            yield p
        finally:
            remove_pod(d, p[1])
    finally:
        d.stop()
        d.cleanup()


def test_streaming_over_tls(image, tmp_path):
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
    with configured_pod(image, {"streaming": {"tls_cert": cert, "tls_key": key}}, "tls") as p:
        d = p[0]
        cid = container(p)
        url = exec_url(d, cid, ["sh", "-c", "echo secret"])
        assert url.startswith("https://127.0.0.1:")
        out, _, st = sc.exec_spdy(url)
        assert out == b"secret\n" and sc.exit_code(st) == 0
        # Plain HTTP to the TLS port is not served.
        plain = exec_url(d, cid, ["true"]).replace("https://", "http://")
        try:
            answered = sc.http_request(plain)[0]
        except (OSError, ValueError, sc.StreamError):
            answered = None
        assert answered is None or answered >= 400


def test_urls_expire(image):
    with configured_pod(image, {"streaming": {"token_ttl": 1}}, "ttl") as p:
        d = p[0]
        cid = container(p)
        late = exec_url(d, cid, ["echo", "late"])
        fresh = exec_url(d, cid, ["echo", "fresh"])
        assert sc.exec_spdy(fresh)[0] == b"fresh\n"
        time.sleep(1.5)
        assert sc.http_request(late)[0] == 404


def test_idle_sessions_end(image):
    with configured_pod(image, {"streaming": {"idle_timeout": 1}}, "idle") as p:
        d = p[0]
        cid = container(p)
        # Output every half second keeps a session going past the idle timeout.
        out, _, st = sc.exec_spdy(exec_url(d, cid, ["sh", "-c", "for i in 1 2 3 4; do echo $i; sleep 0.5; done"]))
        assert out == b"1\n2\n3\n4\n" and sc.exit_code(st) == 0
        # A session where nothing moves is ended, and its exec with it.
        client = silent_exec(d, cid, "7778")
        assert wait_gone([b"sleep", b"7778"])
        client.close()


def crispd_fds(d):
    return len(os.listdir("/proc/%d/fd" % d.proc.pid))


def test_attach_and_exec_after_crispd_restarts(pod):
    d = pod[0]
    cid = container(pod, command=("sh", "-c", "cat; echo bye"), stdin=True, stdin_once=True)
    d.proc.kill()
    d.proc.wait()
    d.start()
    # The monitor kept the attach socket and the container its stdin across crispd's restart.
    out, _, st = sc.exec_spdy(exec_url(d, cid, ["echo", "still"]))
    assert out == b"still\n"
    url = d.call("Attach", pb().AttachRequest(container_id=cid, stdin=True, stdout=True, stderr=True)).url
    out, _, st = sc.attach_spdy(url, stdin=b"again\n")
    assert out == b"again\nbye\n"


def test_sessions_leave_no_fd_behind(pod):
    d = pod[0]
    cid = container(pod)
    sc.exec_spdy(exec_url(d, cid, ["true"]))          # the first session may set up what stays
    time.sleep(1)
    before = crispd_fds(d)
    for _ in range(5):
        sc.exec_spdy(exec_url(d, cid, ["sh", "-c", "echo x; echo y >&2"]))
        sc.exec_ws(exec_url(d, cid, ["cat"], stdin=True), stdin=b"z", protocol="v5.channel.k8s.io")
        # An attach whose client goes away while the container runs on.
        client = sc.SpdyClient(d.call("Attach", pb().AttachRequest(container_id=cid, stdout=True)).url,
                               sc.REMOTECOMMAND_PROTOCOLS, timeout=10)
        client.open_stream({"streamtype": "error"})
        client.open_stream({"streamtype": "stdout"})
        time.sleep(0.2)
        client.close()
    deadline = time.monotonic() + 5
    while crispd_fds(d) > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert crispd_fds(d) <= before     # gRPC's own may close meanwhile; none of the sessions' stays


@pytest.mark.parametrize("protocol", ["v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"])
def test_exec_over_older_spdy_protocols(pod, protocol):
    d = pod[0]
    cid = container(pod)
    out, err, st = sc.exec_spdy(exec_url(d, cid, ["sh", "-c", "echo old; echo e >&2; exit 5"]), protocols=[protocol])
    assert (out, err) == (b"old\n", b"e\n")
    assert st.get("status") == "Failure" and "5" in st.get("message", "")   # before v4: the error text
    out, _, st = sc.exec_spdy(exec_url(d, cid, ["echo", "ok"]), protocols=[protocol])
    assert out == b"ok\n" and st.get("status") == "Success"
