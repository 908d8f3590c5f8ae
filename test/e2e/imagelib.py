"""Registries and images for the image-service e2e tests.

Everything here is local: Debian's docker-registry (distribution 2.8) on 127.0.0.1, an in-process
Bearer-token server that fronts it, and images built either with umoci + skopeo (a runnable busybox
image) or by hand in Python (exact control over tar members, compression and media types, pushed
over the Distribution HTTP API so the registry holds exactly the bytes we wrote).

Rules this module keeps so that the suite's final leak checks hold:
- every temporary directory is made with the prefix "crisp-e2e-" and removed by cleanup() (or, for
  build directories, before the building function returns);
- every long-running process (docker-registry) is recorded in STARTED_PIDS and stopped by its pid;
  short-lived tools (umoci, skopeo, zstd, htpasswd) run under subprocess.run with a timeout;
- every wait is bounded.
"""
import base64
import datetime
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import platform as _platform
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

TMP_PREFIX = "crisp-e2e-"
DOCKER_REGISTRY = "/usr/bin/docker-registry"
BUSYBOX = "/bin/busybox"

# pids of every docker-registry this module started, for a leak check at the end of the suite.
STARTED_PIDS = []

TOOL_TIMEOUT = 120  # seconds any one umoci/skopeo/zstd run may take
DEFAULT_MTIME = 1700000000  # fixed, so that the same members give the same layer digest
DEFAULT_CREATED = "2024-01-01T00:00:00Z"
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Media types.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = {"none": "application/vnd.oci.image.layer.v1.tar",
             "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
             "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = {"none": "application/vnd.docker.image.rootfs.diff.tar",
                "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                # not in Docker's spec, but what containerd calls a zstd Docker layer
                "zstd": "application/vnd.docker.image.rootfs.diff.tar.zstd"}
MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


# ---------------------------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller must cope with a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_platform():
    """(os, architecture, variant) of this machine in OCI terms, e.g. ("linux", "amd64", "")."""
    machine = _platform.machine().lower()
    table = {"x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", "v8"),
             "arm64": ("arm64", "v8"), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
             "i686": ("386", ""), "i386": ("386", ""), "ppc64le": ("ppc64le", ""),
             "s390x": ("s390x", ""), "riscv64": ("riscv64", "")}
    arch, variant = table.get(machine, (machine, ""))
    return ("linux", arch, variant)


def sha256_digest(data):
    """The "sha256:<hex>" digest of bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def _run(cmd, timeout=TOOL_TIMEOUT, **kw):
    """Runs a short-lived tool to completion (killed at timeout) and raises with its output on failure."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


class Response:
    """A finished HTTP exchange: status, reason, headers (an http.client.HTTPMessage) and body bytes."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %s, %d bytes>" % (self.status, self.reason, len(self.body))


def http_request(method, url, headers=None, body=None, timeout=30):
    """One HTTP request without following redirects and without raising on error statuses.

    body may be bytes, a file object (needs a Content-Length header) or None. Tests use this to look
    at exactly what a registry or the token proxy answers."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http":
        raise ValueError("only http:// URLs are supported here: " + url)
    conn = http.client.HTTPConnection(u.netloc, timeout=timeout, blocksize=1 << 20)
    try:
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.reason, resp.headers, data)
    finally:
        conn.close()


def http_get(url, headers=None, timeout=30):
    """GET url; returns a Response whatever its status."""
    return http_request("GET", url, headers=headers, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# docker-registry
# ---------------------------------------------------------------------------------------------

class Registry:
    """A docker-registry process on 127.0.0.1 with its storage in a temporary directory.

    Registry() starts it at once and waits until /v2/ answers; Registry(htpasswd=("user", "pass"))
    requires basic auth. It can be stopped, killed (for a test that kills it mid-pull) and started
    again on the same port and storage, so that what a client cached stays valid."""

    def __init__(self, htpasswd=None, start=True, port=None, timeout=20):
        self.dir = tempfile.mkdtemp(prefix=TMP_PREFIX + "registry-")
        self.storage = os.path.join(self.dir, "storage")
        os.mkdir(self.storage)
        self.config_path = os.path.join(self.dir, "config.yml")
        self.log_path = os.path.join(self.dir, "registry.log")
        self.htpasswd_path = None
        self.creds = tuple(htpasswd) if htpasswd else None
        self.port = port
        self.proc = None
        self._log_file = None
        try:
            if self.creds:
                r = _run(["htpasswd", "-Bbn", self.creds[0], self.creds[1]], timeout=30)
                self.htpasswd_path = os.path.join(self.dir, "htpasswd")
                with open(self.htpasswd_path, "w") as f:
                    f.write(r.stdout.strip() + "\n")
            if start:
                self.start(timeout=timeout)
        except BaseException:
            self.cleanup()
            raise

    # -- addresses
    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.host

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- lifecycle
    def _write_config(self):
        # Quiet as far as the config allows: no access log, warnings only, no health checks, no
        # debug server, no upload purging; a fixed secret so it does not warn about making one.
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  formatter: text",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            "    rootdirectory: %s" % self.storage,
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            "  addr: 127.0.0.1:%d" % self.port,
            "  secret: crisp-e2e-registry-secret",
            "  headers:",
            "    X-Content-Type-Options: [nosniff]",
        ]
        if self.htpasswd_path:
            lines += ["auth:", "  htpasswd:", "    realm: crisp-test", "    path: %s" % self.htpasswd_path]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=20):
        """Starts the registry (again) and waits until it answers.

        The first start picks a free port and retries with another if that one was taken in the
        meantime; later starts reuse the port so that URLs a client holds stay valid."""
        if self.running():
            return self
        fixed = self.port is not None
        for _ in range(1 if fixed else 5):
            if not fixed:
                self.port = free_port()
            self._write_config()
            self._spawn()
            try:
                self.wait_ready(timeout=timeout)
                return self
            except RuntimeError:
                if fixed or "address already in use" not in self.log():
                    raise
                self.port = None
        raise RuntimeError("docker-registry could not find a free port: " + self.log())

    def _spawn(self):
        if self._log_file is None:
            self._log_file = open(self.log_path, "ab")
        # REGISTRY_* variables in the environment would override the config file.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.proc = subprocess.Popen([DOCKER_REGISTRY, "serve", self.config_path], stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=self._log_file, env=env)
        STARTED_PIDS.append(self.proc.pid)

    def wait_ready(self, timeout=20):
        """Waits until GET /v2/ answers 200 or 401 from this registry; raises RuntimeError otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError("docker-registry exited (%s): %s" % (self.proc and self.proc.returncode,
                                                                        self.log()))
            try:
                r = http_get(self.url + "/v2/", timeout=1)
                if r.status in (200, 401) and r.header("Docker-Distribution-Api-Version"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("docker-registry did not become ready in %ds: %s" % (timeout, self.log()))

    def stop(self, timeout=10):
        """SIGTERM to our registry's pid, then SIGKILL if it has not exited within timeout."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_log()

    def kill(self):
        """SIGKILL at once (a registry dying mid-pull); start() brings it back on the same port."""
        if self.running():
            self.proc.kill()
            self.proc.wait(10)
        self._close_log()

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def cleanup(self):
        """Stops the registry and removes its directory (storage, config and log)."""
        try:
            self.stop()
        finally:
            self._final_log = self.log()
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def log(self):
        if getattr(self, "_final_log", None) is not None:
            return self._final_log
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- storage
    def blob_path(self, digest):
        """Path of a blob's data file in the filesystem storage (to corrupt or remove it)."""
        algo, hexpart = digest.split(":", 1)
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", algo, hexpart[:2], hexpart, "data")

    def corrupt_blob(self, digest):
        """Flips one byte in the middle of a stored blob, keeping its size: the registry still serves
        it under its digest, and a client that verifies digests must reject it."""
        path = self.blob_path(digest)
        with open(path, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ValueError("cannot corrupt an empty blob")
            f.seek(size // 2)
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 0xFF]))

    def remove_blob(self, digest):
        """Removes a blob's data from the storage behind the registry's back."""
        shutil.rmtree(os.path.dirname(self.blob_path(digest)))

    def delete_storage(self):
        """Empties the storage (all repositories, manifests and blobs); the registry may keep running."""
        shutil.rmtree(self.storage, ignore_errors=True)
        os.mkdir(self.storage)


# ---------------------------------------------------------------------------------------------
# Bearer-token server in front of a registry
# ---------------------------------------------------------------------------------------------

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "trailers", "transfer-encoding", "upgrade"}
_REPO_PATH = re.compile(r"^/v2/(.+)/(?:manifests/[^/]+|blobs/uploads/[^/]*|blobs/[^/]+|tags/list)$")


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client hanging up (or stop() dropping it) is normal here; anything else is a bug to show.
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "crisp-e2e-token-proxy"
    timeout = 60  # an idle keep-alive connection is dropped after this

    def setup(self):
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, False)

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # -- plumbing
    def _send(self, status, body=b"", headers=None):
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server.owner._log_request(self.command, self.path, status)

    def _send_json(self, status, obj, headers=None):
        h = {"Content-Type": "application/json; charset=utf-8"}
        h.update(headers or {})
        self._send(status, json.dumps(obj).encode() + b"\n", h)

    def _read_body(self, limit=1 << 20):
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            raise ValueError("request body too large")
        return self.rfile.read(n) if n else b""

    def _discard_body(self):
        """Reads an unwanted request body so the connection stays usable, or closes it if chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 16))
            if not chunk:
                break
            n -= len(chunk)

    def _dispatch(self):
        owner = self.server.owner
        path = urllib.parse.urlsplit(self.path).path
        if self.command == "GET" and "/blobs/sha256:" in path:
            with owner._lock:
                owner.blob_gets += 1
        try:
            if path == "/token":
                return self._token()
            if path == "/v2" or path.startswith("/v2/"):
                if owner._valid(self.headers.get("Authorization", "")):
                    return self._forward()
                self._discard_body()
                return self._challenge(path)
            self._discard_body()
            self._send_json(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    # -- /v2/ without a valid token
    def _challenge(self, path):
        owner = self.server.owner
        challenge = 'Bearer realm="%s",service="%s"' % (owner.realm, owner.service)
        m = _REPO_PATH.match(path)
        if m:
            action = "pull" if self.command in ("GET", "HEAD") else "pull,push"
            challenge += ',scope="repository:%s:%s"' % (m.group(1), action)
        self._send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                        {"WWW-Authenticate": challenge, "Docker-Distribution-Api-Version": "registry/2.0"})

    # -- /token
    def _token(self):
        owner = self.server.owner
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.command == "POST":
            form = urllib.parse.parse_qs(self._read_body().decode("utf-8", "replace"))
            params = {k: v for k, v in query.items()}
            params.update(form)
        elif self.command == "GET":
            self._discard_body()
            params = query
        else:
            self._discard_body()
            return self._send_json(405, {"errors": [{"code": "UNSUPPORTED", "message": "method not allowed"}]})
        one = lambda k: (params.get(k) or [""])[0]
        service, scopes = one("service"), params.get("scope", [])
        entry = {"method": self.command, "service": service, "scopes": scopes, "grant_type": one("grant_type"),
                 "user": None, "granted": False}
        if owner.strict_service and service != owner.service:
            owner._log_token(entry)
            return self._send_json(400, {"errors": [{"code": "DENIED",
                                                     "message": "unknown service %r" % service}]})
        refresh = None
        if self.command == "POST":
            grant = one("grant_type")
            if grant == "refresh_token":
                ok = owner.identity_token is not None and one("refresh_token") == owner.identity_token
                entry["user"] = owner.user if ok else None
                fail = "invalid refresh token"
            elif grant == "password":
                ok = (one("username"), one("password")) == (owner.user, owner.password)
                entry["user"] = one("username")
                fail = "invalid username or password"
            else:
                owner._log_token(entry)
                return self._send_json(400, {"error": "unsupported_grant_type"})
        else:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                try:
                    user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    user, password = None, None
                entry["user"] = user
                ok = (user, password) == (owner.user, owner.password)
                fail = "invalid username or password"
                if ok and one("offline_token") == "true" and owner.identity_token is not None:
                    refresh = owner.identity_token
            elif not auth and owner.allow_anonymous:
                ok, fail = True, ""
            else:
                ok, fail = False, "authentication required"
        if not ok:
            owner._log_token(entry)
            return self._send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": fail}]})
        entry["granted"] = True
        owner._log_token(entry)
        token = owner._issue()
        body = {"token": token, "access_token": token, "expires_in": owner.expires_in,
                "issued_at": _now_rfc3339()}
        if scopes:
            body["scope"] = " ".join(scopes)
        if refresh:
            body["refresh_token"] = refresh
        self._send_json(200, body)

    # -- forwarding to the backend
    def _forward(self):
        owner = self.server.owner
        backend_host = owner.backend.host
        headers = [(k, v) for k, v in self.headers.items()
                   if k.lower() not in _HOP_BY_HOP and k.lower() not in ("authorization", "host")]
        creds = getattr(owner.backend, "creds", None)
        if creds:
            headers.append(("Authorization", _basic(*creds)))
        chunked_in = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        conn = http.client.HTTPConnection(backend_host, timeout=60)
        try:
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", backend_host)
                for k, v in headers:
                    conn.putheader(k, v)
                if chunked_in:
                    conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                if chunked_in:
                    self._relay_chunked_request(conn)
                else:
                    while length > 0:
                        chunk = self.rfile.read(min(length, 1 << 16))
                        if not chunk:
                            raise ConnectionResetError("client closed while sending its body")
                        conn.send(chunk)
                        length -= len(chunk)
                resp = conn.getresponse()
            except (http.client.HTTPException, OSError) as e:
                # The backend is down or went away (a test killed it): tell the client so. If the
                # client itself went away, this send fails too and _dispatch drops the connection.
                self.close_connection = True
                return self._send_json(502, {"errors": [{"code": "UNAVAILABLE", "message": "backend: %s" % e}]})
            self._relay_response(resp, backend_host)
        finally:
            conn.close()

    def _relay_chunked_request(self, conn):
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionResetError("client closed in a chunked body")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                conn.send(b"0\r\n\r\n")
                return
            data = self.rfile.read(size)
            self.rfile.readline(8)  # CRLF after the chunk
            conn.send(b"%x\r\n%s\r\n" % (len(data), data))

    def _relay_response(self, resp, backend_host):
        owner = self.server.owner
        self.send_response_only(resp.status, resp.reason)
        has_length = False
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in _HOP_BY_HOP:
                continue
            if lk == "content-length":
                has_length = True
            if lk == "location":
                v = owner._rewrite_location(v, backend_host)
            self.send_header(k, v)
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        chunked_out = not has_length and not no_body
        if chunked_out:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not no_body and owner.blob_rate is not None and resp.status == 200 and "/blobs/sha256:" in self.path:
            return self._trickle_body(resp, chunked_out)
        if not no_body:
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked_out else chunk)
            if chunked_out:
                self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        owner._log_request(self.command, self.path, resp.status)


    def _client_gone(self):
        readable, _, _ = select.select([self.connection], [], [], 0)
        try:
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _trickle_body(self, resp, chunked_out):
        """A blob body at owner.blob_rate bytes a second (0: none at all), until the client leaves."""
        owner = self.server.owner
        self.wfile.flush()
        with owner._lock:
            owner.active_blobs += 1
        try:
            while not owner._stopping.is_set() and not self._client_gone():
                chunk = resp.read(owner.blob_rate) if owner.blob_rate else b""
                if owner.blob_rate and not chunk:
                    break
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked_out else chunk)
                    self.wfile.flush()
                owner._stopping.wait(1)
        finally:
            self.close_connection = True
            with owner._lock:
                owner.active_blobs -= 1


class TokenAuthProxy:
    """An in-process token server plus reverse proxy in front of a plain Registry (the Bearer flow).

    /v2/... without "Authorization: Bearer <valid token>" gets 401 with a Bearer challenge whose realm
    is this server's /token; GET /token with the configured Basic credentials (or none, if
    allow_anonymous) issues a random token, POST /token takes grant_type=refresh_token with the
    configured identity token (or grant_type=password). Requests with a valid token are forwarded to
    the backend with bodies streamed through. token_requests counts issued tokens so tests can check
    that a client caches them; token_log and request_log record what happened."""

    def __init__(self, backend, user="user", password="pass", allow_anonymous=False, identity_token=None,
                 service="crisp-test", expires_in=300, strict_service=True):
        self.backend = backend
        self.user = user
        self.password = password
        self.allow_anonymous = allow_anonymous
        self.identity_token = identity_token
        self.service = service
        self.expires_in = expires_in
        self.strict_service = strict_service
        self.token_requests = 0
        self.token_log = []
        self.request_log = []
        # Blob bodies go at blob_rate bytes a second when it is set (0: headers, then nothing);
        # blob_gets counts blob requests, active_blobs the bodies being trickled now.
        self.blob_rate = None
        self.blob_gets = 0
        self.active_blobs = 0
        self._stopping = threading.Event()
        self._tokens = {}
        self._conns = {}  # open client connection -> the thread serving it
        self._lock = threading.Lock()
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="crisp-e2e-token-proxy", daemon=True)
        self._thread.start()

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.host

    @property
    def realm(self):
        return self.url + "/token"

    @property
    def creds(self):
        """What a client should log in with (for the build helpers and for crisp's auth config)."""
        return (self.user, self.password)

    # -- tokens
    def _issue(self):
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.expires_in
            self.token_requests += 1
        return token

    def _valid(self, authorization):
        if not authorization.startswith("Bearer "):
            return False
        with self._lock:
            expiry = self._tokens.get(authorization[7:].strip())
        return expiry is not None and expiry > time.monotonic()

    def revoke_tokens(self):
        """Invalidates every token issued so far (clients must fetch a new one)."""
        with self._lock:
            self._tokens.clear()

    def _log_token(self, entry):
        with self._lock:
            self.token_log.append(entry)

    def _log_request(self, method, path, status):
        with self._lock:
            self.request_log.append((method, path, status))

    def _rewrite_location(self, value, backend_host):
        for prefix in ("http://" + backend_host, "//" + backend_host):
            if value.startswith(prefix):
                return self.url + value[len(prefix):]
        return value

    # -- lifecycle
    def _track(self, conn, add):
        with self._lock:
            if add:
                self._conns[conn] = threading.current_thread()
            else:
                self._conns.pop(conn, None)

    def stop(self, timeout=10):
        """Stops serving and drops every open connection (keep-alive ones included)."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns.items())
        for c, _ in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for _, t in conns:
            t.join(max(0.0, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._server = None

    cleanup = stop

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------
# Distribution API client (push and inspect), with Basic and Bearer auth
# ---------------------------------------------------------------------------------------------

def _endpoint(target, creds=None):
    """(host, creds) for a Registry, a TokenAuthProxy or a "host:port" string. creds=None takes the
    target's own credentials; creds=False forces anonymous access."""
    if isinstance(target, str):
        return target, (creds or None)
    if creds is None:
        creds = getattr(target, "creds", None)
    return target.host, (creds or None)


class RegistryClient:
    """A minimal Distribution API client: answers a 401 once by authenticating from the challenge
    (Basic with creds, or Bearer via the realm with creds if any) and retries the request."""

    def __init__(self, target, creds=None, timeout=60):
        self.host, self.creds = _endpoint(target, creds)
        self.base = "http://" + self.host
        self.timeout = timeout
        self._auth = None

    def request(self, method, path_or_url, headers=None, body=None):
        """body: bytes, or a str naming a file to stream. Returns a Response."""
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        for attempt in range(2):
            h = dict(headers or {})
            if self._auth:
                h["Authorization"] = self._auth
            if isinstance(body, str):
                h["Content-Length"] = str(os.path.getsize(body))
                with open(body, "rb") as f:
                    r = http_request(method, url, h, f, self.timeout)
            else:
                if body is not None:
                    h["Content-Length"] = str(len(body))
                r = http_request(method, url, h, body, self.timeout)
            if r.status != 401 or attempt == 1:
                return r
            self._authenticate(r.header("WWW-Authenticate", ""))
        return r

    def _authenticate(self, challenge):
        scheme, _, rest = challenge.partition(" ")
        params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if scheme.lower() == "basic":
            if not self.creds:
                raise PermissionError("registry %s wants basic auth and no credentials were given" % self.host)
            self._auth = _basic(*self.creds)
        elif scheme.lower() == "bearer":
            q = {k: params[k] for k in ("service", "scope") if k in params}
            url = params["realm"] + ("?" + urllib.parse.urlencode(q) if q else "")
            h = {"Authorization": _basic(*self.creds)} if self.creds else {}
            r = http_get(url, h, self.timeout)
            if r.status != 200:
                raise PermissionError("token request to %s failed: %d %s" % (url, r.status, r.body[:200]))
            j = r.json()
            self._auth = "Bearer " + (j.get("token") or j["access_token"])
        else:
            raise PermissionError("unexpected challenge %r from %s" % (challenge, self.host))

    # -- reading
    def get_manifest(self, repo, ref, accept=MANIFEST_ACCEPT):
        return self.request("GET", "/v2/%s/manifests/%s" % (repo, ref), {"Accept": accept})

    def get_blob(self, repo, digest):
        return self.request("GET", "/v2/%s/blobs/%s" % (repo, digest))

    def head_blob(self, repo, digest):
        return self.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest))

    def fetch_manifest(self, repo, ref):
        """(bytes, media type, digest) of a manifest; raises unless 200."""
        r = self.get_manifest(repo, ref)
        if r.status != 200:
            raise RuntimeError("GET manifest %s:%s: %d %s" % (repo, ref, r.status, r.body[:300]))
        return r.body, r.header("Content-Type"), sha256_digest(r.body)

    def fetch_blob(self, repo, digest, verify=True):
        r = self.get_blob(repo, digest)
        if r.status != 200:
            raise RuntimeError("GET blob %s@%s: %d %s" % (repo, digest, r.status, r.body[:300]))
        if verify and sha256_digest(r.body) != digest:
            raise RuntimeError("blob %s@%s came back with digest %s" % (repo, digest, sha256_digest(r.body)))
        return r.body

    # -- writing
    def push_blob(self, repo, digest, data):
        """Uploads a blob (bytes or a file path) monolithically: POST an upload, PUT it with ?digest=."""
        if self.head_blob(repo, digest).status == 200:
            return
        r = self.request("POST", "/v2/%s/blobs/uploads/" % repo, body=b"")
        if r.status != 202 or not r.header("Location"):
            raise RuntimeError("starting upload to %s: %d %s" % (repo, r.status, r.body[:300]))
        loc = urllib.parse.urljoin(self.base + "/", r.header("Location"))
        loc += ("&" if "?" in loc else "?") + urllib.parse.urlencode({"digest": digest})
        r = self.request("PUT", loc, {"Content-Type": "application/octet-stream"}, data)
        if r.status != 201:
            raise RuntimeError("uploading %s to %s: %d %s" % (digest, repo, r.status, r.body[:300]))

    def push_manifest(self, repo, ref, data, media_type):
        """PUTs manifest bytes under a tag or digest and checks the registry took exactly these bytes."""
        r = self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), {"Content-Type": media_type}, data)
        if r.status != 201:
            raise RuntimeError("PUT manifest %s:%s: %d %s" % (repo, ref, r.status, r.body[:500]))
        digest = sha256_digest(data)
        if r.header("Docker-Content-Digest") not in (None, digest):
            raise RuntimeError("registry stored manifest %s as %s" % (digest, r.header("Docker-Content-Digest")))
        return digest

    def verify_manifest(self, repo, ref, data):
        """Raises unless GET manifests/<ref> returns exactly data."""
        body, _, digest = self.fetch_manifest(repo, ref)
        if body != data:
            raise RuntimeError("registry returned a different manifest for %s:%s (%s, want %s)"
                               % (repo, ref, digest, sha256_digest(data)))


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------

@dataclass
class LayerInfo:
    digest: str  # of the blob as stored (compressed)
    diff_id: str  # of the uncompressed tar
    size: int  # of the blob
    media_type: str
    compression: str = ""  # "gzip", "zstd", "none" or "" if unknown


@dataclass
class Image:
    """What a test needs to know about a pushed image (or, with children, an index / manifest list)."""
    host: str
    repo: str
    tag: str
    manifest_digest: str
    manifest_media_type: str
    manifest: bytes = field(repr=False)
    config_digest: str = ""
    config: bytes = field(default=b"", repr=False)
    config_media_type: str = ""
    layers: list = field(default_factory=list)  # [LayerInfo]
    children: list = field(default_factory=list)  # [Image] for an index
    platform: tuple = None  # (os, arch, variant) for a child of an index

    @property
    def ref(self):
        """host/repo:tag, e.g. 127.0.0.1:5000/busybox:latest."""
        return "%s/%s:%s" % (self.host, self.repo, self.tag)

    @property
    def digest_ref(self):
        """host/repo@sha256:..."""
        return "%s/%s@%s" % (self.host, self.repo, self.manifest_digest)

    @property
    def image_id(self):
        return self.config_digest

    @property
    def layer_digests(self):
        return [l.digest for l in self.layers]

    @property
    def diff_ids(self):
        return [l.diff_id for l in self.layers]

    @property
    def layer_sizes(self):
        return [l.size for l in self.layers]

    @property
    def size(self):
        """Bytes on the wire for this image: layer blobs + config + manifest."""
        return sum(self.layer_sizes) + len(self.config) + len(self.manifest)

    @property
    def is_index(self):
        return self.manifest_media_type in (OCI_INDEX, DOCKER_LIST)

    def config_json(self):
        return json.loads(self.config) if self.config else None

    def child(self, os_="linux", arch=None, variant=None):
        """The child image of an index for a platform (arch defaults to this machine's)."""
        arch = arch or host_platform()[1]
        for c in self.children:
            if c.platform[0] == os_ and c.platform[1] == arch and (variant is None or c.platform[2] == variant):
                return c
        raise KeyError((os_, arch, variant))

    def as_dict(self):
        d = {"ref": self.ref, "digest_ref": self.digest_ref, "manifest_digest": self.manifest_digest,
             "manifest_media_type": self.manifest_media_type, "config_digest": self.config_digest,
             "image_id": self.image_id, "layer_digests": self.layer_digests, "diff_ids": self.diff_ids,
             "layer_sizes": self.layer_sizes, "size": self.size, "platform": self.platform}
        if self.children:
            d["children"] = [c.as_dict() for c in self.children]
        return d


def inspect_image(target, repo, ref, creds=None, tag=None):
    """Builds an Image from what the registry serves for repo:ref (an index's children included),
    checking that every blob it names is there and has the declared size."""
    client = RegistryClient(target, creds)
    body, media_type, digest = client.fetch_manifest(repo, ref)
    m = json.loads(body)
    media_type = m.get("mediaType") or media_type
    tag = tag if tag is not None else (ref if ":" not in ref else "")
    img = Image(client.host, repo, tag, digest, media_type, body)
    if "manifests" in m:
        for d in m["manifests"]:
            c = inspect_image(target, repo, d["digest"], creds, tag=tag)
            p = d.get("platform", {})
            c.platform = (p.get("os", ""), p.get("architecture", ""), p.get("variant", ""))
            img.children.append(c)
        return img
    img.config_digest = m["config"]["digest"]
    img.config_media_type = m["config"]["mediaType"]
    img.config = client.fetch_blob(repo, img.config_digest)
    cfg = json.loads(img.config)
    img.platform = (cfg.get("os", ""), cfg.get("architecture", ""), cfg.get("variant", ""))
    diff_ids = cfg["rootfs"]["diff_ids"]
    for d, diff_id in zip(m["layers"], diff_ids):
        h = client.head_blob(repo, d["digest"])
        if h.status != 200 or int(h.header("Content-Length", -1)) != d["size"]:
            raise RuntimeError("layer %s: HEAD %d, length %s, want %d" % (d["digest"], h.status,
                                                                         h.header("Content-Length"), d["size"]))
        mt = d["mediaType"]
        comp = "gzip" if "gzip" in mt else "zstd" if "zstd" in mt else "none" if mt.endswith("tar") else ""
        img.layers.append(LayerInfo(d["digest"], diff_id, d["size"], mt, comp))
    return img


# ---------------------------------------------------------------------------------------------
# Tar members
# ---------------------------------------------------------------------------------------------

@dataclass
class Member:
    """One tar entry of a hand-made layer. name is written as is (see raw())."""
    name: str
    type: bytes = tarfile.REGTYPE
    content: object = b""  # bytes, or a file object with size set
    size: int = None
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    uname: str = ""
    gname: str = ""
    pax_headers: dict = field(default_factory=dict)

    def tarinfo(self):
        ti = tarfile.TarInfo(self.name)
        ti.type = self.type
        ti.mode = self.mode
        ti.uid, ti.gid, ti.uname, ti.gname = self.uid, self.gid, self.uname, self.gname
        ti.mtime = self.mtime
        ti.linkname = self.linkname
        ti.devmajor, ti.devminor = self.devmajor, self.devminor
        ti.pax_headers = dict(self.pax_headers)
        if self.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
            ti.size = self.size if self.size is not None else len(self.content)
        return ti

    def fileobj(self):
        if self.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            return None
        return io.BytesIO(self.content) if isinstance(self.content, (bytes, bytearray)) else self.content


def _rel(path):
    """Image paths are given absolute ("/etc/passwd") and stored relative ("etc/passwd")."""
    p = path.lstrip("/")
    if not p:
        raise ValueError("empty member path %r" % path)
    return p


def file(path, content=b"", mode=0o644, uid=0, gid=0, mtime=DEFAULT_MTIME, xattrs=None):
    """A regular file; content is bytes or str. xattrs: {"user.x": "v"} as SCHILY.xattr PAX records."""
    if isinstance(content, str):
        content = content.encode()
    pax = {"SCHILY.xattr." + k: v for k, v in (xattrs or {}).items()}
    return Member(_rel(path), tarfile.REGTYPE, content, None, mode, uid, gid, mtime, pax_headers=pax)


def random_file(path, size, mode=0o644, uid=0, gid=0, mtime=DEFAULT_MTIME):
    """A regular file of size incompressible random bytes, generated while the tar is written."""
    return Member(_rel(path), tarfile.REGTYPE, _RandomReader(size), size, mode, uid, gid, mtime)


def zero_file(path, size, mode=0o644):
    """A regular file of size zero bytes, generated while the tar is written: a layer that compresses
    to almost nothing (a decompression bomb when size is large)."""
    return Member(_rel(path), tarfile.REGTYPE, _ZeroReader(size), size, mode)


class _ZeroReader:
    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


class _RandomReader:
    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def directory(path, mode=0o755, uid=0, gid=0, mtime=DEFAULT_MTIME):
    """A directory (also exported as dir())."""
    return Member(_rel(path), tarfile.DIRTYPE, b"", 0, mode, uid, gid, mtime)


def symlink(path, target, uid=0, gid=0, mtime=DEFAULT_MTIME):
    """A symlink; target is kept as given (relative or absolute)."""
    return Member(_rel(path), tarfile.SYMTYPE, b"", 0, 0o777, uid, gid, mtime, linkname=target)


def hardlink(path, target, mtime=DEFAULT_MTIME):
    """A hard link to target, another member of the same layer (given as an image path)."""
    return Member(_rel(path), tarfile.LNKTYPE, b"", 0, 0o644, 0, 0, mtime, linkname=_rel(target))


def whiteout(path):
    """Deletes path of a lower layer: an empty file "<dir>/.wh.<name>"."""
    d, name = os.path.split(_rel(path))
    return Member(os.path.join(d, ".wh." + name), tarfile.REGTYPE, b"", 0, 0o644)


def opaque(dir_path):
    """Hides everything a lower layer has in dir_path: "<dir>/.wh..wh..opq"."""
    return Member(os.path.join(_rel(dir_path), ".wh..wh..opq"), tarfile.REGTYPE, b"", 0, 0o644)


def fifo(path, mode=0o644, uid=0, gid=0):
    return Member(_rel(path), tarfile.FIFOTYPE, b"", 0, mode, uid, gid)


def chardev(path, major, minor, mode=0o666, uid=0, gid=0):
    return Member(_rel(path), tarfile.CHRTYPE, b"", 0, mode, uid, gid, devmajor=major, devminor=minor)


def blockdev(path, major, minor, mode=0o660, uid=0, gid=0):
    return Member(_rel(path), tarfile.BLKTYPE, b"", 0, mode, uid, gid, devmajor=major, devminor=minor)


def raw(name, content=b"", type=tarfile.REGTYPE, linkname="", mode=0o644, uid=0, gid=0):
    """An entry whose name (and linkname) are written exactly as given: "../../evil", "/abs",
    "a/../../b", names with NUL-free odd bytes... for tests of hostile layers."""
    if isinstance(content, str):
        content = content.encode()
    return Member(name, type, content, None, mode, uid, gid, linkname=linkname)


dir = directory  # noqa: A001 -- the name the tests use; this module never calls the builtin dir()

BUSYBOX_APPLETS = ["sh", "ls", "cat", "echo", "sleep", "true", "false", "id", "env", "httpd", "nc", "wget",
                   "mkdir", "rm", "touch", "ps", "kill", "hostname", "grep", "head", "stat", "test", "printf",
                   "pwd", "whoami", "uname", "wc", "ip", "mount", "readlink", "sync", "date"]
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n" \
         "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\napp:x:1000:\nnobody:x:65534:\n"


def busybox_members():
    """A small runnable rootfs: the host's static busybox with applet symlinks, /etc/passwd with root
    and app (1000:1000), /etc/group, /tmp (1777), /home/app, /root. Used by build_busybox_image and
    usable as a layer of build_image_from_layers."""
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    ms = [directory("/bin"), file("/bin/busybox", bb, 0o755)]
    ms += [symlink("/bin/" + a, "busybox") for a in BUSYBOX_APPLETS]
    ms += [directory("/etc"), file("/etc/passwd", PASSWD), file("/etc/group", GROUP),
           directory("/tmp", 0o1777), directory("/home"), directory("/home/app", 0o755, 1000, 1000),
           directory("/root", 0o700), directory("/dev"), directory("/proc"), directory("/sys")]
    return ms


def _materialize(members, root):
    """Writes members into a directory tree (for umoci's repack)."""
    for m in members:
        p = os.path.join(root, m.name)
        if m.type == tarfile.DIRTYPE:
            os.makedirs(p, exist_ok=True)
            os.chmod(p, m.mode)
        elif m.type == tarfile.SYMTYPE:
            os.symlink(m.linkname, p)
        elif m.type == tarfile.REGTYPE:
            with open(p, "wb") as f:
                f.write(m.content)
            os.chmod(p, m.mode)
        else:
            raise ValueError("cannot materialize %r" % (m,))
        os.lchown(p, m.uid, m.gid)
        if m.type == tarfile.DIRTYPE and m.mode & 0o7000:
            os.chmod(p, m.mode)  # chown clears set-id bits; sticky is kept, but be explicit


# ---------------------------------------------------------------------------------------------
# Hand-made layers, configs, manifests
# ---------------------------------------------------------------------------------------------

class Layer:
    """A layer to build: tar members (or ready tar bytes), a compression ("gzip", "zstd", "none"),
    and optionally a media type overriding the one the image's media family implies."""

    def __init__(self, members=(), compression=None, media_type=None, tar_bytes=None, gzip_level=6):
        self.members = list(members)
        self.compression = compression
        self.media_type = media_type
        self.tar_bytes = tar_bytes
        self.gzip_level = gzip_level


class _Blobs:
    """An OCI image layout being written in a temporary build directory."""

    def __init__(self, root):
        self.root = root
        self.blob_dir = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blob_dir)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []
        self._n = 0

    def path(self, digest):
        return os.path.join(self.blob_dir, digest.split(":", 1)[1])

    def add_bytes(self, data):
        digest = sha256_digest(data)
        with open(self.path(digest), "wb") as f:
            f.write(data)
        return digest

    def add_file(self, path):
        digest = _file_digest(path)
        os.replace(path, self.path(digest))
        return digest

    def tmp(self, suffix):
        self._n += 1
        return os.path.join(self.root, "tmp-%d%s" % (self._n, suffix))

    def write_index(self):
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f)


def _build_layer(blobs, layer, media):
    """Writes the tar, compresses it, stores the blob; returns (descriptor, LayerInfo)."""
    tar_path = blobs.tmp(".tar")
    if layer.tar_bytes is not None:
        with open(tar_path, "wb") as f:
            f.write(layer.tar_bytes)
    else:
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tf:
            for m in layer.members:
                tf.addfile(m.tarinfo(), m.fileobj())
    diff_id = _file_digest(tar_path)
    comp = layer.compression or "gzip"
    if comp == "gzip":
        out = blobs.tmp(".tar.gz")
        with open(tar_path, "rb") as src, open(out, "wb") as dst:
            with gzip.GzipFile(filename="", mode="wb", fileobj=dst, mtime=0, compresslevel=layer.gzip_level) as gz:
                shutil.copyfileobj(src, gz, 1 << 20)
        os.unlink(tar_path)
    elif comp == "zstd":
        out = blobs.tmp(".tar.zst")
        _run(["zstd", "-q", "-f", "--no-progress", "-o", out, tar_path])
        os.unlink(tar_path)
    elif comp == "none":
        out = tar_path
    else:
        raise ValueError("unknown compression %r" % comp)
    digest = blobs.add_file(out)
    size = os.path.getsize(blobs.path(digest))
    media_type = layer.media_type or (DOCKER_LAYER if media == "docker" else OCI_LAYER)[comp]
    return ({"mediaType": media_type, "digest": digest, "size": size},
            LayerInfo(digest, diff_id, size, media_type, comp))


_CONFIG_KEYS = {"user": "User", "cmd": "Cmd", "entrypoint": "Entrypoint", "env": "Env", "workdir": "WorkingDir",
                "working_dir": "WorkingDir", "stop_signal": "StopSignal", "labels": "Labels",
                "exposed_ports": "ExposedPorts", "volumes": "Volumes"}


def _runtime_config(config):
    """The image config's "config" section from OCI keys (User, Cmd...) or snake_case ones (user, cmd...).
    Env defaults to a PATH; a key given as None is dropped."""
    out = {"Env": [DEFAULT_PATH_ENV]}
    for k, v in (config or {}).items():
        k = _CONFIG_KEYS.get(k, k)
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def _build_image(blobs, layers, config=None, media="oci", compression="gzip", platform=None,
                 extra_config=None, annotations=None):
    """Builds layers, config and manifest into the layout; returns (manifest bytes, media type,
    config bytes, [LayerInfo])."""
    if media not in ("oci", "docker"):
        raise ValueError("media must be 'oci' or 'docker'")
    os_, arch, variant = platform or host_platform()
    descs, infos = [], []
    for i, l in enumerate(layers):
        if not isinstance(l, Layer):
            l = Layer(l)
        if l.compression is None:
            c = compression[i] if isinstance(compression, (list, tuple)) else compression
            l = Layer(l.members, c, l.media_type, l.tar_bytes, l.gzip_level)
        d, info = _build_layer(blobs, l, media)
        descs.append(d)
        infos.append(info)
    cfg = {"created": DEFAULT_CREATED, "architecture": arch, "os": os_}
    if variant:
        cfg["variant"] = variant
    cfg["config"] = _runtime_config(config)
    cfg["rootfs"] = {"type": "layers", "diff_ids": [i.diff_id for i in infos]}
    cfg["history"] = [{"created": DEFAULT_CREATED, "created_by": "crisp-e2e layer %d" % i}
                      for i in range(len(infos))]
    cfg.update(extra_config or {})
    config_bytes = json.dumps(cfg, indent=2).encode()
    config_digest = blobs.add_bytes(config_bytes)
    manifest = {"schemaVersion": 2,
                "mediaType": DOCKER_MANIFEST if media == "docker" else OCI_MANIFEST,
                "config": {"mediaType": DOCKER_CONFIG if media == "docker" else OCI_CONFIG,
                           "digest": config_digest, "size": len(config_bytes)},
                "layers": descs}
    if annotations:
        manifest["annotations"] = dict(annotations)
    manifest_bytes = json.dumps(manifest, indent=2).encode()
    blobs.add_bytes(manifest_bytes)
    return manifest_bytes, manifest["mediaType"], config_bytes, infos


def _push_exact(client, blobs, repo, ref, manifest_bytes, media_type, blob_digests):
    for d in blob_digests:
        client.push_blob(repo, d, blobs.path(d))
    digest = client.push_manifest(repo, ref, manifest_bytes, media_type)
    client.verify_manifest(repo, ref, manifest_bytes)
    return digest


def _skopeo_push(blobs_root, tag, host, repo, creds, workdir):
    """skopeo copy oci:<layout>:<tag> docker://host/repo:tag, refusing any conversion."""
    policy = os.path.join(workdir, "policy.json")
    authfile = os.path.join(workdir, "auth.json")
    with open(policy, "w") as f:
        json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
    with open(authfile, "w") as f:
        f.write('{"auths": {}}')
    cmd = ["skopeo", "--policy", policy, "copy", "--quiet", "--preserve-digests", "--retry-times", "0",
           "--dest-tls-verify=false", "--authfile", authfile]
    cmd += ["--dest-creds", "%s:%s" % tuple(creds)] if creds else ["--dest-no-creds"]
    cmd += ["oci:%s:%s" % (blobs_root, tag), "docker://%s/%s:%s" % (host, repo, tag)]
    env = dict(os.environ, TMPDIR=workdir)
    _run(cmd, env=env)


def _workdir():
    return tempfile.mkdtemp(prefix=TMP_PREFIX + "build-")


# ---------------------------------------------------------------------------------------------
# Image builders
# ---------------------------------------------------------------------------------------------

def build_busybox_image(registry, repo="busybox", tag="latest", creds=None, user=None, cmd=("/bin/sh",),
                        entrypoint=None, env=None, workdir=None, stop_signal=None, labels=None, extra_members=()):
    """A runnable busybox image made with umoci (init/new/unpack/repack/config) and pushed with
    skopeo --preserve-digests. cmd/entrypoint are lists (or a str for one word); env is a list of
    "K=V" (PATH is always set); labels a dict. Returns the Image as the registry serves it.

    umoci stamps the current time into the config, so every build has a new image id."""
    host, creds = _endpoint(registry, creds)
    work = _workdir()
    try:
        layout, bundle = os.path.join(work, "oci"), os.path.join(work, "bundle")
        img = "%s:%s" % (layout, tag)
        _run(["umoci", "init", "--layout", layout])
        _run(["umoci", "new", "--image", img])
        _run(["umoci", "unpack", "--image", img, bundle])
        _materialize(busybox_members() + list(extra_members), os.path.join(bundle, "rootfs"))
        _run(["umoci", "repack", "--image", img, bundle])
        args = ["umoci", "config", "--image", img, "--config.env", DEFAULT_PATH_ENV]
        for e in env or ():
            args += ["--config.env", e]
        for flag, val in (("--config.cmd", cmd), ("--config.entrypoint", entrypoint)):
            for word in ([val] if isinstance(val, str) else val or ()):
                args += [flag, word]
        if user is not None:
            args += ["--config.user", str(user)]
        if workdir is not None:
            args += ["--config.workingdir", workdir]
        if stop_signal is not None:
            args += ["--config.stopsignal", stop_signal]
        for k, v in (labels or {}).items():
            args += ["--config.label", "%s=%s" % (k, v)]
        _run(args)
        _run(["umoci", "gc", "--layout", layout])
        with open(os.path.join(layout, "index.json")) as f:
            desc = [d for d in json.load(f)["manifests"]
                    if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
        with open(os.path.join(layout, "blobs", "sha256", desc["digest"].split(":")[1]), "rb") as f:
            local_manifest = f.read()
        _skopeo_push(layout, tag, host, repo, creds, work)
        RegistryClient(host, creds or False).verify_manifest(repo, tag, local_manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return inspect_image(host, repo, tag, creds or False)


def build_image_from_layers(registry, repo, tag, layers, config=None, media="oci", compression="gzip",
                            creds=None, platform=None, extra_config=None, annotations=None, pusher="http"):
    """An image crafted by hand: layers is a list of Layer or of member lists (file(), directory(),
    whiteout()... raw()); compression is one of "gzip", "zstd", "none" or a list with one per layer;
    media "oci" or "docker" (schema2). config sets the runtime config (user, cmd, entrypoint, env,
    workdir, stop_signal, labels, or the OCI key names); extra_config overrides top-level config keys
    (e.g. {"rootfs": ...} to lie about diff ids). platform is (os, arch, variant), default this machine.

    pusher="http" (default) uploads blobs and manifest over the Distribution API, byte-exact;
    pusher="skopeo" uses skopeo copy --preserve-digests from the OCI layout instead (media="oci"
    only: skopeo's oci: transport ignores index.json entries typed as Docker manifests). Either way the
    manifest the registry returns is checked to be exactly the one built."""
    if pusher not in ("http", "skopeo"):
        raise ValueError("pusher must be 'http' or 'skopeo'")
    if pusher == "skopeo" and media != "oci":
        # skopeo's oci: transport only finds index.json entries typed as OCI manifests.
        raise ValueError("pusher='skopeo' works only with media='oci'")
    host, creds = _endpoint(registry, creds)
    work = _workdir()
    try:
        blobs = _Blobs(os.path.join(work, "oci"))
        manifest, mt, config_bytes, infos = _build_image(blobs, layers, config, media, compression, platform,
                                                         extra_config, annotations)
        digest = sha256_digest(manifest)
        blobs.refs.append({"mediaType": mt, "digest": digest, "size": len(manifest),
                           "annotations": {"org.opencontainers.image.ref.name": tag}})
        blobs.write_index()
        client = RegistryClient(host, creds or False)
        if pusher == "http":
            _push_exact(client, blobs, repo, tag, manifest, mt,
                        [i.digest for i in infos] + [sha256_digest(config_bytes)])
        elif pusher == "skopeo":
            _skopeo_push(blobs.root, tag, host, repo, creds, work)
            client.verify_manifest(repo, tag, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cfg = json.loads(config_bytes)
    return Image(host, repo, tag, digest, mt, manifest, sha256_digest(config_bytes), config_bytes,
                 DOCKER_CONFIG if media == "docker" else OCI_CONFIG, infos,
                 platform=(cfg.get("os", ""), cfg.get("architecture", ""), cfg.get("variant", "")))


DEFAULT_PLATFORMS = (("linux", "amd64", ""), ("linux", "arm64", "v8"), ("linux", "arm", "v7"))


def build_multiplatform_index(registry, repo, tag, platforms=DEFAULT_PLATFORMS, media="oci", creds=None,
                              busybox=False, compression="gzip"):
    """An OCI index (or, media="docker", a Docker manifest list) over one small image per platform;
    each image has /platform containing "os/arch[/variant]" and a matching config platform. With
    busybox=True the image for this machine's platform also gets busybox (so a container can run
    `cat /platform`). Children are pushed by digest, the index under tag, all byte-exact."""
    host, creds = _endpoint(registry, creds)
    here = host_platform()
    work = _workdir()
    try:
        blobs = _Blobs(os.path.join(work, "oci"))
        client = RegistryClient(host, creds or False)
        children, descs = [], []
        for p in platforms:
            os_, arch, variant = (tuple(p) + ("",))[:3]
            name = "/".join(x for x in (os_, arch, variant) if x)
            members = [file("/platform", name + "\n")]
            if busybox and (os_, arch) == here[:2]:
                members = busybox_members() + members
            manifest, mt, config_bytes, infos = _build_image(blobs, [Layer(members, compression)],
                                                             {"cmd": ["/bin/cat", "/platform"]}, media,
                                                             compression, (os_, arch, variant))
            digest = _push_exact(client, blobs, repo, sha256_digest(manifest), manifest, mt,
                                 [i.digest for i in infos] + [sha256_digest(config_bytes)])
            plat = {"architecture": arch, "os": os_}
            if variant:
                plat["variant"] = variant
            descs.append({"mediaType": mt, "digest": digest, "size": len(manifest), "platform": plat})
            children.append(Image(host, repo, tag, digest, mt, manifest, sha256_digest(config_bytes), config_bytes,
                                  DOCKER_CONFIG if media == "docker" else OCI_CONFIG, infos,
                                  platform=(os_, arch, variant)))
        index_mt = DOCKER_LIST if media == "docker" else OCI_INDEX
        index = json.dumps({"schemaVersion": 2, "mediaType": index_mt, "manifests": descs}, indent=2).encode()
        blobs.add_bytes(index)
        digest = client.push_manifest(repo, tag, index, index_mt)
        client.verify_manifest(repo, tag, index)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Image(host, repo, tag, digest, index_mt, index, children=children)


def build_large_image(registry, repo, tag, total_mb=100, layers=3, creds=None, compression="gzip", media="oci"):
    """An image of `layers` layers holding total_mb MiB of incompressible random data in all (a file
    /data/layerN.bin each), for pull benchmarks. Built and pushed streaming from disk (gzip level 1,
    since random data does not compress anyway)."""
    per = (total_mb << 20) // layers
    ls = [Layer([directory("/data"), random_file("/data/layer%d.bin" % i, per)], compression, gzip_level=1)
          for i in range(layers)]
    return build_image_from_layers(registry, repo, tag, ls, media=media, creds=creds)
