"""Small clients for crispd's streaming server (the URLs Exec, Attach and PortForward return).

Standard library only (socket, ssl, zlib, threading). They speak what kubectl and crictl speak:
SPDY/3.1 with the k8s remotecommand and portforward protocols, and the WebSocket channel protocols.

Usage:

    from streamclient import exec_spdy, exec_ws, attach_spdy, portforward_spdy, portforward_ws

    out, err, status = exec_spdy(url, stdin=b"hi\\n", tty=False)
    # status: the metav1.Status as a dict, e.g. {"metadata": {}, "status": "Success"} or
    # {"status": "Failure", "reason": "NonZeroExitCode", "details": {"causes": [...]}, ...};
    # for protocols before v4 it is built from the error text ({"status": "Failure", "message": ...}).
    exit_code(status)                                  # -> 0, the code, or None for other failures
    out, err, status = exec_spdy(url, tty=True, resize=(80, 24), stderr=False)
    out, err, status = exec_ws(url, stdin=b"x", protocol="v5.channel.k8s.io")  # v5 closes stdin
    out, err, status = exec_ws(url, protocol="v4.base64.channel.k8s.io")
    data, error = portforward_spdy(url, 8080, b"GET / HTTP/1.0\\r\\n\\r\\n")  # error: "" or the text
    results = portforward_spdy_many(url, [(8080, b"a"), (8080, b"b")])      # one connection, concurrent
    data, error = portforward_ws(url, 8080, b"payload")  # the port must be in the request (or ?port=)
    status, headers, body = http_request(url, method="GET", headers={})     # plain HTTP, for errors

The stdin/stdout/stderr/tty arguments must match what the Exec/Attach request asked for: the server
waits for exactly those streams. Every call takes timeout (seconds). For https URLs the server's
certificate is not verified (tests use self-signed ones).
"""
import base64
import json
import os
import socket
import ssl
import struct
import threading
import urllib.parse
import zlib

__all__ = ["exec_spdy", "attach_spdy", "exec_ws", "attach_ws", "portforward_spdy", "portforward_spdy_many",
           "portforward_ws", "http_request", "exit_code", "SpdyClient", "WsClient", "StreamError"]

REMOTECOMMAND_PROTOCOLS = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]


class StreamError(Exception):
    pass


def _spdy_dictionary():
    words = ["options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
             "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
             "content-base", "content-encoding", "content-language", "content-length", "content-location",
             "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
             "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
             "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
             "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
             "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
             "public", "set-cookie", "keep-alive", "origin"]
    tail = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
            "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
            "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    d = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()
    assert len(d) == 1423
    return d


SPDY_DICT = _spdy_dictionary()


def _connect(url, timeout):
    u = urllib.parse.urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    sock = socket.create_connection((u.hostname, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # as Go's clients do
    if u.scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    target = u.path + ("?" + u.query if u.query else "")
    return sock, u.netloc, target


def _read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise StreamError("connection closed during the HTTP response: %r" % data)
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def http_request(url, method="GET", headers=None, raw=None, timeout=10):
    """One request; returns (status, headers dict with lower-case names, body bytes).
    raw: bytes sent as the whole request instead (malformed-request tests)."""
    sock, host, target = _connect(url, timeout)
    with sock:
        if raw is None:
            hdrs = {"Host": host}
            hdrs.update(headers or {})
            raw = ("%s %s HTTP/1.1\r\n" % (method, target)).encode() + b"".join(
                ("%s: %s\r\n" % kv).encode() for kv in hdrs.items()) + b"\r\n"
        sock.sendall(raw)
        status, h, rest = _read_head(sock)
        body = rest
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            body += chunk
        return status, h, body


def _upgrade(url, method, headers, timeout):
    sock, host, target = _connect(url, timeout)
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: " + host]
    lines += ["%s: %s" % kv for kv in headers]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, h, rest = _read_head(sock)
    if status != 101:
        sock.close()
        raise StreamError("upgrade refused: HTTP %d" % status)
    return sock, h, rest


class _Stream:
    def __init__(self, sid):
        self.id = sid
        self.data = bytearray()
        self.fin = False
        self.reset = False
        self.replied = False


class SpdyClient:
    """A SPDY/3.1 client session: open_stream, send, close_stream, wait_fin, close."""

    def __init__(self, url, protocols, method="POST", timeout=30, flow_control=False):
        hdrs = [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")]
        hdrs += [("X-Stream-Protocol-Version", p) for p in protocols]
        self.sock, self.headers, rest = _upgrade(url, method, hdrs, timeout)
        self.protocol = self.headers.get("x-stream-protocol-version", "")
        self.timeout = timeout
        self.sock.settimeout(None)
        self.comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                     SPDY_DICT)
        self.decomp = zlib.decompressobj(zdict=SPDY_DICT)
        self.next_id = 1
        self.streams = {}
        self.cond = threading.Condition()
        self.wlock = threading.Lock()
        self.closed = False
        self.goaway = False
        self.pings = 0
        self.buf = bytearray(rest)
        # flow_control: announce a 64 KiB window, credit what arrives, and fail if the server ever
        # sends more than it was granted (spdystream, like kubectl, does none of this).
        self.flow_control = flow_control
        self.received = {}
        self.violation = None
        if flow_control:
            self._write(self._control(4, 0, struct.pack(">III", 1, 7, 65536)))
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    def _credit(self, sid, n):
        """Credits in batches of 32 KiB, so the server must wait on its windows; what arrives between
        two credits can never exceed a window."""
        for key in (sid, 0):
            self.received[key] = self.received.get(key, 0) + n
            if self.received[key] > 65536:
                self.violation = "stream %d: %d bytes beyond the window" % (key, self.received[key])
            if self.received[key] >= 32768:
                self._write(self._control(9, 0, struct.pack(">II", key, self.received[key])))
                self.received[key] = 0

    def _header_block(self, headers):
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            raw += struct.pack(">I", len(k)) + k.lower().encode() + struct.pack(">I", len(v)) + v.encode()
        return self.comp.compress(raw) + self.comp.flush(zlib.Z_SYNC_FLUSH)

    def _write(self, data):
        with self.wlock:
            self.sock.sendall(data)

    def _control(self, ftype, flags, payload):
        return struct.pack(">HHI", 0x8003, ftype, (flags << 24) | len(payload)) + payload

    def open_stream(self, headers, fin=False):
        with self.cond:
            sid = self.next_id
            self.next_id += 2
            self.streams[sid] = _Stream(sid)
            block = self._header_block(headers)  # the compressor's order must match the wire's
            frame = self._control(1, 1 if fin else 0, struct.pack(">IIH", sid, 0, 0) + block)
            self._write(frame)
        return sid

    def send(self, sid, data, fin=False):
        for i in range(0, max(len(data), 1), 32768):
            chunk = data[i:i + 32768]
            last = i + 32768 >= len(data)
            self._write(struct.pack(">II", sid, ((1 if fin and last else 0) << 24) | len(chunk)) + chunk)

    def close_stream(self, sid):
        self.send(sid, b"", fin=True)

    def ping(self, pid=1):
        self._write(self._control(6, 0, struct.pack(">I", pid)))

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _read_loop(self):
        try:
            while True:
                head = self._read_exact(8)
                length = struct.unpack(">I", b"\0" + head[5:8])[0]
                flags = head[4]
                payload = self._read_exact(length)
                if head[0] & 0x80:
                    self._on_control(struct.unpack(">H", head[2:4])[0], flags, payload)
                else:
                    self._on_data(struct.unpack(">I", head[:4])[0] & 0x7fffffff, flags, payload)
        except (EOFError, OSError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _on_data(self, sid, flags, payload):
        with self.cond:
            st = self.streams.get(sid)
            if st:
                st.data += payload
                if flags & 1:
                    st.fin = True
            self.cond.notify_all()
        if self.flow_control and payload:
            self._credit(sid, len(payload))

    def _on_control(self, ftype, flags, payload):
        with self.cond:
            if ftype == 2:  # SYN_REPLY
                self.decomp.decompress(payload[4:])
                sid = struct.unpack(">I", payload[:4])[0] & 0x7fffffff
                if sid in self.streams:
                    self.streams[sid].replied = True
                    if flags & 1:
                        self.streams[sid].fin = True
            elif ftype == 8:
                self.decomp.decompress(payload[4:])
            elif ftype == 3:  # RST_STREAM
                sid = struct.unpack(">I", payload[:4])[0] & 0x7fffffff
                if sid in self.streams:
                    self.streams[sid].reset = self.streams[sid].fin = True
            elif ftype == 6:
                self.pings += 1
            elif ftype == 7:
                self.goaway = True
            self.cond.notify_all()

    def wait(self, predicate, timeout=None):
        with self.cond:
            if not self.cond.wait_for(lambda: predicate() or self.closed, timeout or self.timeout):
                raise StreamError("timed out")
            return predicate()

    def wait_fin(self, sids, timeout=None):
        return self.wait(lambda: all(self.streams[s].fin for s in sids), timeout)

    def data(self, sid):
        with self.cond:
            return bytes(self.streams[sid].data)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.reader.join(5)


def _status_from(protocol_version, text):
    if protocol_version >= 4:
        return json.loads(text) if text else {}
    if not text:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "message": text.decode(errors="replace")}


def exit_code(status):
    """0 for success, the exit code of a NonZeroExitCode status, None for other failures."""
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes", []):
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    return None


def _version_of(protocol):
    if protocol.startswith("v") and protocol[1:2].isdigit():
        return int(protocol[1])
    return 1


def exec_spdy(url, stdin=None, tty=False, resize=None, stdout=True, stderr=True, protocols=None, timeout=30,
              close_stdin=True, flow_control=False):
    """Exec (or attach) over SPDY; returns (stdout bytes, stderr bytes, status dict). flow_control:
    keep SPDY/3.1 windows and raise StreamError if the server overruns them."""
    c = SpdyClient(url, protocols or REMOTECOMMAND_PROTOCOLS, timeout=timeout, flow_control=flow_control)
    try:
        version = _version_of(c.protocol or "channel.k8s.io")
        err_id = c.open_stream({"streamtype": "error"})
        c.close_stream(err_id)  # as kubectl: it never writes to the error stream
        in_id = c.open_stream({"streamtype": "stdin"}) if stdin is not None else None
        out_id = c.open_stream({"streamtype": "stdout"}) if stdout else None
        errs_id = c.open_stream({"streamtype": "stderr"}) if stderr and not tty else None
        rs_id = c.open_stream({"streamtype": "resize"}) if tty and version >= 3 else None
        if rs_id and resize:
            c.send(rs_id, json.dumps({"Width": resize[0], "Height": resize[1]}).encode())
        if in_id:
            if stdin:
                c.send(in_id, stdin)
            if close_stdin:
                c.close_stream(in_id)
        c.wait_fin([s for s in (err_id, out_id, errs_id) if s], timeout)
        if c.violation:
            raise StreamError("flow control: " + c.violation)
        out = c.data(out_id) if out_id else b""
        errb = c.data(errs_id) if errs_id else b""
        return out, errb, _status_from(version, c.data(err_id))
    finally:
        c.close()


attach_spdy = exec_spdy


class WsClient:
    """A WebSocket client for the k8s channel protocols: send(channel, data), close_channel, messages."""

    def __init__(self, url, protocols, timeout=30):
        key = base64.b64encode(os.urandom(16)).decode()
        hdrs = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", key)]
        if protocols:
            hdrs.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
        self.sock, self.headers, rest = _upgrade(url, "GET", hdrs, timeout)
        import hashlib
        want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        if self.headers.get("sec-websocket-accept", "").encode() != want:
            raise StreamError("bad Sec-WebSocket-Accept")
        self.protocol = self.headers.get("sec-websocket-protocol", "")
        self.base64 = "base64." in self.protocol
        self.timeout = timeout
        self.sock.settimeout(None)
        self.buf = bytearray(rest)
        self.channels = {}
        self.first = {}  # the first message on each channel (port-forward announces its port there)
        self.closed = False
        self.close_code = None
        self.cond = threading.Condition()
        self.wlock = threading.Lock()
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    def send_frame(self, opcode, payload, fin=True):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        with self.wlock:
            self.sock.sendall(head + mask + masked)

    def send(self, channel, data):
        for i in range(0, max(len(data), 1), 32768):
            chunk = data[i:i + 32768]
            if self.base64:
                self.send_frame(1, bytes([ord("0") + channel]) + base64.b64encode(chunk))
            else:
                self.send_frame(2, bytes([channel]) + chunk)

    def close_channel(self, channel):
        """v5 only: tells the server the client's side of channel is done."""
        self.send(255, bytes([channel]))

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _read_loop(self):
        msg = b""
        try:
            while True:
                b0, b1 = self._read_exact(2)
                n = b1 & 0x7f
                if n == 126:
                    n = struct.unpack(">H", self._read_exact(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", self._read_exact(8))[0]
                payload = self._read_exact(n)
                op = b0 & 0x0f
                if op == 8:
                    with self.cond:
                        self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                    self.send_frame(8, payload[:2])
                    break
                if op == 9:
                    self.send_frame(10, payload)
                    continue
                if op == 10:
                    continue
                msg += payload
                if b0 & 0x80:
                    self._on_message(msg)
                    msg = b""
        except (EOFError, OSError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _on_message(self, msg):
        if not msg:
            return
        if self.base64:
            ch, data = msg[0] - ord("0"), base64.b64decode(msg[1:])
        else:
            ch, data = msg[0], msg[1:]
        with self.cond:
            self.first.setdefault(ch, data)
            self.channels.setdefault(ch, bytearray()).extend(data)
            self.cond.notify_all()

    def data(self, ch):
        with self.cond:
            return bytes(self.channels.get(ch, b""))

    def wait_closed(self, timeout=None):
        with self.cond:
            if not self.cond.wait_for(lambda: self.closed, timeout or self.timeout):
                raise StreamError("timed out")

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.reader.join(5)


def exec_ws(url, stdin=None, tty=False, resize=None, protocol="v4.channel.k8s.io", timeout=30):
    """Exec (or attach) over WebSocket; returns (stdout, stderr, status dict). With v5, stdin is closed
    after it is sent; before v5 the server never learns of stdin's end."""
    c = WsClient(url, [protocol] if protocol else [], timeout=timeout)
    try:
        if resize:
            c.send(4, json.dumps({"Width": resize[0], "Height": resize[1]}).encode())
        if stdin:
            c.send(0, stdin)
        if stdin is not None and c.protocol.startswith("v5."):
            c.close_channel(0)
        c.wait_closed(timeout)
        version = 4 if c.protocol.startswith(("v4.", "v5.")) else 1
        return c.data(1), c.data(2), _status_from(version, c.data(3))
    finally:
        c.close()


attach_ws = exec_ws


class PortForwardSession:
    """One SPDY port-forward connection; forward() may run from several threads at once."""

    def __init__(self, url, timeout=30):
        self.c = SpdyClient(url, ["portforward.k8s.io"], timeout=timeout)
        self.lock = threading.Lock()
        self.next_request = 0
        self.timeout = timeout

    def forward(self, port, payload, half_close=True):
        """Sends payload to port, returns (everything the port sent back, error stream text)."""
        with self.lock:
            rid = str(self.next_request)
            self.next_request += 1
            err_id = self.c.open_stream({"streamtype": "error", "port": str(port), "requestID": rid})
            data_id = self.c.open_stream({"streamtype": "data", "port": str(port), "requestID": rid})
        self.c.close_stream(err_id)
        if payload:
            self.c.send(data_id, payload)
        if half_close:
            self.c.close_stream(data_id)
        self.c.wait_fin([err_id, data_id], self.timeout)
        return self.c.data(data_id), self.c.data(err_id).decode(errors="replace")

    def close(self):
        self.c.close()


def portforward_spdy(url, port, payload, timeout=30):
    """(data, error): what port answered to payload, and the error stream's text ("" when none)."""
    s = PortForwardSession(url, timeout)
    try:
        return s.forward(port, payload)
    finally:
        s.close()


def portforward_spdy_many(url, requests, timeout=30):
    """requests: [(port, payload), ...] forwarded concurrently on one connection; results in order."""
    s = PortForwardSession(url, timeout)
    results = [None] * len(requests)

    def run(i, port, payload):
        try:
            results[i] = s.forward(port, payload)
        except Exception as e:  # reported in the result
            results[i] = (b"", "client: %s" % e)
    try:
        threads = [threading.Thread(target=run, args=(i, p, d)) for i, (p, d) in enumerate(requests)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout)
        return results
    finally:
        s.close()


def portforward_ws(url, port, payload, protocol="v4.channel.k8s.io", timeout=30):
    """(data, error) for one port over WebSocket (channels 0 and 1); the session ends when the port
    closes its side."""
    c = WsClient(url, [protocol] if protocol else [], timeout=timeout)
    try:
        if payload:
            c.send(0, payload)
        c.wait_closed(timeout)
        data, err = c.data(0), c.data(1)
        # Each channel starts with the port, 2 bytes little-endian.
        if data[:2] != struct.pack("<H", port):
            raise StreamError("data channel did not announce port %d" % port)
        return data[2:], err[2:].decode(errors="replace")
    finally:
        c.close()
