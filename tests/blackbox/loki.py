"""loki.py - Loki push and query helpers for the black-box tests, in pure
stdlib Python: the protobuf PushRequest encoder and decoder (snappy from
prw.py), JSON pushes, query helpers and a minimal WebSocket client (RFC
6455) for /loki/api/v1/tail."""

import base64
import json
import os
import socket
import struct
import urllib.parse

import prw


def _ts_pb(ns):
    out = b""
    s, n = divmod(ns, 1000000000)
    if s:
        out += prw.pb_varint(1, s & 0xFFFFFFFFFFFFFFFF)
    if n:
        out += prw.pb_varint(2, n)
    return out


def labels_text(labels):
    return "{" + ", ".join('%s="%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"'))
                           for k, v in labels.items()) + "}"


def encode_push(streams):
    """streams: [(labels dict or text, [(ts_ns, line, {meta}), ...])] ->
    snappy-compressed PushRequest."""
    body = b""
    for labels, entries in streams:
        text = labels if isinstance(labels, str) else labels_text(labels)
        sb = prw.pb_bytes(1, text.encode())
        for e in entries:
            ts, line = e[0], e[1]
            meta = e[2] if len(e) > 2 else {}
            eb = prw.pb_bytes(1, _ts_pb(ts)) + prw.pb_bytes(2, line.encode()
                                                           if isinstance(line, str) else line)
            for k, v in meta.items():
                eb += prw.pb_bytes(3, prw.pb_bytes(1, k.encode()) + prw.pb_bytes(2, v.encode()))
            sb += prw.pb_bytes(2, eb)
        body += prw.pb_bytes(1, sb)
    return prw.snappy_compress(body)


def decode_push(raw):
    """A snappy PushRequest -> [(labels text, [(ts_ns, line bytes, {meta})])]."""
    buf = prw.snappy_decompress(raw)
    out = []
    for f, _w, v in prw.pb_parse(buf):
        if f != 1:
            continue
        labels, entries = "", []
        for sf, _sw, sv in prw.pb_parse(v):
            if sf == 1:
                labels = sv.decode()
            elif sf == 2:
                ts, line, meta = 0, b"", {}
                for ef, _ew, ev in prw.pb_parse(sv):
                    if ef == 1:
                        secs = nanos = 0
                        for tf, _tw, tv in prw.pb_parse(ev):
                            if tf == 1:
                                secs = tv
                            elif tf == 2:
                                nanos = tv
                        ts = secs * 1000000000 + nanos
                    elif ef == 2:
                        line = ev
                    elif ef == 3:
                        kv = dict((kf, kv2) for kf, _kw, kv2 in prw.pb_parse(ev))
                        meta[kv.get(1, b"").decode()] = kv.get(2, b"").decode()
                entries.append((ts, line, meta))
        out.append((labels, entries))
    return out


def push_json(t, streams, tenant=None, expect=204, path="/loki/api/v1/push"):
    """streams: [(labels dict, [(ts_ns, line[, meta]), ...])]."""
    body = {"streams": [{"stream": lb, "values": [
        [str(e[0]), e[1]] + ([e[2]] if len(e) > 2 and e[2] else []) for e in es]}
        for lb, es in streams]}
    h = {"Content-Type": "application/json"}
    if tenant:
        h["X-Scope-OrgID"] = tenant
    r = t.request("POST", path, json.dumps(body).encode(), h)
    if expect is not None:
        assert r.status == expect, "push: %d %s" % (r.status, r.text[:500])
    return r


def push_pb(t, streams, tenant=None, expect=204, headers=None):
    h = {"Content-Type": "application/x-protobuf"}
    if tenant:
        h["X-Scope-OrgID"] = tenant
    h.update(headers or {})
    r = t.request("POST", "/loki/api/v1/push", encode_push(streams), h)
    if expect is not None:
        assert r.status == expect, "push: %d %s" % (r.status, r.text[:500])
    return r


def query_range(t, query, start_ns, end_ns, limit=1000, direction="forward", tenant=None,
                step=None, headers=None, expect=200):
    p = {"query": query, "start": str(start_ns), "end": str(end_ns), "limit": str(limit),
         "direction": direction}
    if step:
        p["step"] = step
    h = dict(headers or {})
    if tenant:
        h["X-Scope-OrgID"] = tenant
    r = t.request("GET", "/loki/api/v1/query_range?" + urllib.parse.urlencode(p), None, h)
    if expect is not None:
        assert r.status == expect, "query_range %s: %d %s" % (query, r.status, r.text[:500])
    return r


def entries(resp):
    """[(ts_ns, line, stream dict)] of a streams response, in response order."""
    out = []
    for s in resp.json()["data"]["result"]:
        for v in s["values"]:
            out.append((int(v[0]), v[1], s["stream"]))
    return out


# ---------------------------------------------------------------- WebSocket --

class WebSocket:
    """A minimal RFC 6455 client: text frames, masked, no extensions."""

    def __init__(self, port, path, headers=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port,
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake: %r" % buf)
            buf += chunk
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ")[1])
        self.head = head.decode(errors="replace")
        if self.status != 101:
            # the rest of an error response's body
            self.body = self.buf

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """(opcode, payload) of the next frame (pings answered)."""
        while True:
            b0, b1 = self._recv_exact(2)
            op = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            payload = self._recv_exact(n)
            if op == 9:
                self.send(payload, opcode=10)
                continue
            return op, payload

    def send(self, data, opcode=1):
        if isinstance(data, str):
            data = data.encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        self.sock.sendall(hdr + mask + masked)

    def close(self):
        try:
            self.send(struct.pack(">H", 1000), opcode=8)
            self.sock.settimeout(2)
            while True:
                op, _ = self.recv()
                if op == 8:
                    break
        except (OSError, ConnectionError):
            pass
        self.sock.close()
