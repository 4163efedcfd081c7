"""prw.py - Prometheus remote-write / remote-read wire codecs in pure stdlib Python.

Used by the black-box tests to build requests and to check responses
independently of the server's own C codecs.

  * protobuf: a minimal writer (varint, fixed64, length-delimited) and a
    generic reader (field number -> list of raw values)
  * prometheus.WriteRequest (1.0) encoder and decoder
  * io.prometheus.write.v2.Request (2.0) encoder
  * prometheus.ReadRequest encoder, prometheus.ReadResponse decoder
  * snappy block format: compressor (greedy hash matching) and a full
    decompressor that rejects every malformed input with SnappyError

Values are kept as Python floats, but every comparison in the tests goes
through f64_bits() so NaN payloads (stale markers) are checked bit-exact.
"""

import struct

STALE_NAN_BITS = 0x7FF0000000000002

# MetricMetadata.MetricType (1.0) and Metadata.MetricType (2.0) share numbers.
METRIC_TYPES = {
    "unknown": 0, "counter": 1, "gauge": 2, "histogram": 3,
    "gaugehistogram": 4, "summary": 5, "info": 6, "stateset": 7,
}

# LabelMatcher.Type
EQ, NEQ, RE, NRE = 0, 1, 2, 3

V2_CONTENT_TYPE = "application/x-protobuf;proto=io.prometheus.write.v2.Request"


def f64_bits(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def bits_f64(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


STALE_NAN = bits_f64(STALE_NAN_BITS)


# ---------------------------------------------------------------- protobuf --

def _uvarint(v):
    if v < 0:
        v &= (1 << 64) - 1  # int64 negative values: 10-byte two's complement
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _uvarint((field << 3) | wire)


def pb_varint(field, v):
    return _key(field, 0) + _uvarint(v)


def pb_double(field, v):
    return _key(field, 1) + struct.pack("<d", v)


def pb_double_bits(field, bits):
    return _key(field, 1) + struct.pack("<Q", bits)


def pb_bytes(field, b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return _key(field, 2) + _uvarint(len(b)) + b


class ProtoError(Exception):
    pass


def read_uvarint(buf, pos):
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtoError("varint too long")


def pb_parse(buf):
    """Parse one message: returns a list of (field, wire_type, value) in order.
    value: int for varint, bytes for length-delimited, int (raw bits) for
    fixed64/fixed32."""
    buf = bytes(buf)
    pos = 0
    out = []
    while pos < len(buf):
        key, pos = read_uvarint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise ProtoError("field number 0")
        if wire == 0:
            v, pos = read_uvarint(buf, pos)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise ProtoError("truncated fixed64")
            v = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            n, pos = read_uvarint(buf, pos)
            if pos + n > len(buf):
                raise ProtoError("truncated bytes field")
            v = buf[pos:pos + n]
            pos += n
        elif wire == 5:
            if pos + 4 > len(buf):
                raise ProtoError("truncated fixed32")
            v = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ProtoError("unsupported wire type %d" % wire)
        out.append((field, wire, v))
    return out


def _int64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


# ------------------------------------------------------- remote write 1.0 --

def _labels_pb(labels):
    return b"".join(pb_bytes(1, pb_bytes(1, n) + pb_bytes(2, v)) for n, v in labels)


def _sample_pb(ts, v):
    # value may be a float or ("bits", int) for an exact NaN payload
    if isinstance(v, tuple):
        body = pb_double_bits(1, v[1])
    else:
        body = pb_double(1, v)
    return body + pb_varint(2, ts)


def encode_write_v1(series, metadata=()):
    """series: iterable of (labels, samples) where labels is a list of
    (name, value) pairs (kept in the given order, names/values str or bytes)
    and samples a list of (ts_ms, value). metadata: iterable of dicts with
    keys family, type, help, unit. Returns uncompressed protobuf bytes."""
    out = bytearray()
    for labels, samples in series:
        ts_body = _labels_pb(labels) + b"".join(
            pb_bytes(2, _sample_pb(ts, v)) for ts, v in samples)
        out += pb_bytes(1, ts_body)
    for md in metadata:
        body = pb_varint(1, METRIC_TYPES[md.get("type", "unknown")])
        body += pb_bytes(2, md["family"])
        if md.get("help"):
            body += pb_bytes(4, md["help"])
        if md.get("unit"):
            body += pb_bytes(5, md["unit"])
        out += pb_bytes(3, body)
    return bytes(out)


def _as_str(b):
    return b.decode("utf-8", errors="surrogateescape")


def _decode_labels_samples(fields):
    labels, samples = [], []
    for f, w, v in fields:
        if f == 1 and w == 2:
            name = value = b""
            for lf, lw, lv in pb_parse(v):
                if lf == 1 and lw == 2:
                    name = lv
                elif lf == 2 and lw == 2:
                    value = lv
            labels.append((_as_str(name), _as_str(value)))
        elif f == 2 and w == 2:
            bits, ts = 0, 0
            for sf, sw, sv in pb_parse(v):
                if sf == 1 and sw == 1:
                    bits = sv
                elif sf == 2 and sw == 0:
                    ts = _int64(sv)
            samples.append((ts, bits))
    return labels, samples


def decode_write_v1(buf):
    """Returns {"series": [(labels, [(ts, value_bits)])], "metadata": [dict]}.
    Samples carry raw IEEE-754 bits so comparisons are bit-exact."""
    series, metadata = [], []
    for f, w, v in pb_parse(buf):
        if f == 1 and w == 2:
            series.append(_decode_labels_samples(pb_parse(v)))
        elif f == 3 and w == 2:
            md = {"type": 0, "family": "", "help": "", "unit": ""}
            for mf, mw, mv in pb_parse(v):
                if mf == 1 and mw == 0:
                    md["type"] = mv
                elif mf == 2 and mw == 2:
                    md["family"] = _as_str(mv)
                elif mf == 4 and mw == 2:
                    md["help"] = _as_str(mv)
                elif mf == 5 and mw == 2:
                    md["unit"] = _as_str(mv)
            metadata.append(md)
    return {"series": series, "metadata": metadata}


# ------------------------------------------------------- remote write 2.0 --

def encode_write_v2(series):
    """series: iterable of dicts {labels: [(n, v)], samples: [(ts, v)],
    metadata: {type, help, unit} (optional), created_timestamp (optional)}.
    Builds the symbol table (symbols[0] == "")."""
    symbols = [""]
    index = {"": 0}

    def ref(s):
        if s not in index:
            index[s] = len(symbols)
            symbols.append(s)
        return index[s]

    ts_bodies = []
    for s in series:
        refs = []
        for n, v in s["labels"]:
            refs += [ref(n), ref(v)]
        body = pb_bytes(1, b"".join(_uvarint(r) for r in refs))  # packed
        for ts, v in s.get("samples", ()):
            body += pb_bytes(2, _sample_pb(ts, v))
        md = s.get("metadata")
        if md:
            mbody = pb_varint(1, METRIC_TYPES[md.get("type", "unknown")])
            if md.get("help"):
                mbody += pb_varint(3, ref(md["help"]))
            if md.get("unit"):
                mbody += pb_varint(4, ref(md["unit"]))
            body += pb_bytes(5, mbody)
        if s.get("created_timestamp"):
            body += pb_varint(6, s["created_timestamp"])
        ts_bodies.append(body)
    out = bytearray()
    for sym in symbols:
        out += pb_bytes(4, sym)
    for body in ts_bodies:
        out += pb_bytes(5, body)
    return bytes(out)


# ------------------------------------------------------------ remote read --

def encode_read_request(queries):
    """queries: iterable of (start_ms, end_ms, [(type, name, value)])."""
    out = bytearray()
    for start, end, matchers in queries:
        body = pb_varint(1, start) + pb_varint(2, end)
        for typ, name, value in matchers:
            m = b""
            if typ:
                m += pb_varint(1, typ)
            m += pb_bytes(2, name) + pb_bytes(3, value)
            body += pb_bytes(3, m)
        out += pb_bytes(1, body)
    out += pb_varint(2, 0)  # accepted_response_types: SAMPLES
    return bytes(out)


def decode_read_response(buf):
    """Returns a list (one per query) of lists of (labels, [(ts, bits)])."""
    results = []
    for f, w, v in pb_parse(buf):
        if f == 1 and w == 2:
            series = []
            for qf, qw, qv in pb_parse(v):
                if qf == 1 and qw == 2:
                    series.append(_decode_labels_samples(pb_parse(qv)))
            results.append(series)
    return results


# ------------------------------------------------------------------ snappy --

class SnappyError(Exception):
    pass


def snappy_compress(data):
    """Snappy block format: uvarint length, then literals and 2-byte-offset
    copies found with a 4-byte hash table (greedy; offsets < 65536)."""
    data = bytes(data)
    n = len(data)
    out = bytearray(_uvarint(n))
    table = {}
    lit_start = 0
    i = 0

    def emit_literal(a, b):
        while a < b:
            chunk = min(b - a, 65536)
            ln = chunk - 1
            if ln < 60:
                out.append(ln << 2)
            elif ln < 256:
                out.append(60 << 2)
                out.append(ln)
            else:
                out.append(61 << 2)
                out.extend(struct.pack("<H", ln))
            out.extend(data[a:a + chunk])
            a += chunk

    while i + 4 <= n:
        key = data[i:i + 4]
        cand = table.get(key)
        table[key] = i
        if cand is not None and i - cand < 65536:
            length = 4
            while i + length < n and length < 64 and data[cand + length] == data[i + length]:
                length += 1
            emit_literal(lit_start, i)
            out.append(((length - 1) << 2) | 2)
            out += struct.pack("<H", i - cand)
            i += length
            lit_start = i
        else:
            i += 1
    emit_literal(lit_start, n)
    return bytes(out)


def snappy_literal_only(data):
    """Valid snappy made of literal elements only (fast for huge bodies)."""
    data = bytes(data)
    out = bytearray(_uvarint(len(data)))
    pos = 0
    while pos < len(data):
        chunk = min(len(data) - pos, 1 << 24)
        out.append(62 << 2)
        out += struct.pack("<I", chunk - 1)[:3]
        out += data[pos:pos + chunk]
        pos += chunk
    return bytes(out)


def snappy_decompress(buf, max_len=1 << 30):
    buf = bytes(buf)
    try:
        n, pos = read_uvarint(buf, 0)
    except ProtoError as e:
        raise SnappyError("bad length header: %s" % e)
    if n > max_len:
        raise SnappyError("decoded length %d exceeds limit" % n)
    out = bytearray()
    end = len(buf)
    while pos < end:
        tag = buf[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                extra = ln - 59
                if pos + extra > end:
                    raise SnappyError("truncated literal length")
                ln = int.from_bytes(buf[pos:pos + extra], "little")
                pos += extra
            ln += 1
            if pos + ln > end:
                raise SnappyError("truncated literal")
            out += buf[pos:pos + ln]
            pos += ln
        else:
            if kind == 1:
                if pos + 1 > end:
                    raise SnappyError("truncated copy1")
                ln = 4 + ((tag >> 2) & 7)
                off = ((tag >> 5) << 8) | buf[pos]
                pos += 1
            elif kind == 2:
                if pos + 2 > end:
                    raise SnappyError("truncated copy2")
                ln = (tag >> 2) + 1
                off = struct.unpack_from("<H", buf, pos)[0]
                pos += 2
            else:
                if pos + 4 > end:
                    raise SnappyError("truncated copy4")
                ln = (tag >> 2) + 1
                off = struct.unpack_from("<I", buf, pos)[0]
                pos += 4
            if off == 0 or off > len(out):
                raise SnappyError("copy offset %d out of range" % off)
            if off >= ln:
                start = len(out) - off
                out += out[start:start + ln]
            else:  # overlapping copy: byte by byte
                for _ in range(ln):
                    out.append(out[-off])
        if len(out) > n:
            raise SnappyError("output longer than declared length")
    if len(out) != n:
        raise SnappyError("output length %d != declared %d" % (len(out), n))
    return bytes(out)


# ----------------------------------------------------------- conveniences --

def write_body_v1(series, metadata=()):
    return snappy_compress(encode_write_v1(series, metadata))


def write_body_v2(series):
    return snappy_compress(encode_write_v2(series))


def sorted_labels(labels):
    return tuple(sorted((n, v) for n, v in labels))
