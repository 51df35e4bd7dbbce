"""Just enough Kafka decoding to describe captured frames in MANIFEST.tsv.

Independent of the C++ codecs on purpose: a second, simple reading of the same
bytes, used to name and describe captures (and to check that a capture holds
what the scenario sent). Covers the request and response headers, the bodies
of ApiVersions, Metadata, Produce, Fetch and ListOffsets requests, the
responses the golden set keeps, and record batch v2 (gzip via zlib; snappy,
lz4 and zstd when the python3-snappy, python3-lz4 and python3-zstandard
modules are importable, otherwise the records of such a batch are left
undecoded and the description says so).

Standard library only (plus the optional codec modules).
"""
import struct
import zlib

API_NAMES = {
    0: "produce", 1: "fetch", 2: "list_offsets", 3: "metadata",
    8: "offset_commit", 9: "offset_fetch", 10: "find_coordinator",
    11: "join_group", 12: "heartbeat", 13: "leave_group", 14: "sync_group",
    15: "describe_groups", 16: "list_groups", 17: "sasl_handshake",
    18: "api_versions", 19: "create_topics", 22: "init_producer_id",
    23: "offset_for_leader_epoch", 32: "describe_configs",
}

# First flexible version of each API (Kafka's message/*Request.json
# "flexibleVersions"); None = never flexible.
FIRST_FLEXIBLE = {
    0: 9, 1: 12, 2: 6, 3: 9, 8: 8, 9: 6, 10: 3, 11: 6, 12: 4, 13: 4, 14: 4,
    15: 5, 16: 3, 17: None, 18: 3, 19: 5, 22: 2, 23: 4, 32: 4,
}

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def is_flexible(api_key, version):
    first = FIRST_FLEXIBLE.get(api_key)
    return first is not None and version >= first


def request_header_version(api_key, version):
    return 2 if is_flexible(api_key, version) else 1


def response_header_version(api_key, version):
    # ApiVersions responses always use header v0 (see kafka-protocol README).
    if api_key == 18:
        return 0
    return 1 if is_flexible(api_key, version) else 0


class Reader:
    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError(f"short read: need {n} at {self.pos}/{len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int8(self):
        return struct.unpack(">b", self.take(1))[0]

    def int16(self):
        return struct.unpack(">h", self.take(2))[0]

    def int32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uint32(self):
        return struct.unpack(">I", self.take(4))[0]

    def int64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = result = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def string(self, flexible):
        n = self.uvarint() - 1 if flexible else self.int16()
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def bytes_(self, flexible):
        n = self.uvarint() - 1 if flexible else self.int32()
        return None if n < 0 else self.take(n)

    def array_len(self, flexible):
        return self.uvarint() - 1 if flexible else self.int32()

    def tags(self, flexible):
        if not flexible:
            return
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def parse_request_header(frame_body):
    """frame_body excludes the 4-byte size. Returns (dict, body_offset)."""
    r = Reader(frame_body)
    api_key, version, corr = r.int16(), r.int16(), r.int32()
    client_id = r.string(False)  # client_id stays a classic string in v2
    hv = request_header_version(api_key, version)
    r.tags(hv >= 2)
    return {"api_key": api_key, "api_version": version, "correlation_id": corr,
            "client_id": client_id, "header_version": hv}, r.pos


# ---------------------------------------------------------------- records

def _decompress(codec, data):
    if codec == 1:
        return zlib.decompress(data, 47)
    if codec == 2:
        import snappy  # python3-snappy
        if data[:8] == b"\x82SNAPPY\x00":
            out, pos = b"", 16
            while pos < len(data):
                n = struct.unpack_from(">i", data, pos)[0]
                out += snappy.uncompress(data[pos + 4:pos + 4 + n])
                pos += 4 + n
            return out
        return snappy.uncompress(data)
    if codec == 3:
        import lz4.frame  # python3-lz4
        return lz4.frame.decompress(data)
    if codec == 4:
        import zstandard  # python3-zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise ValueError(f"unknown codec {codec}")


def parse_batches(data):
    """Record batches v2 in `data` -> list of dicts (header fields, records)."""
    batches, pos = [], 0
    while pos + 61 <= len(data):
        r = Reader(data, pos)
        b = {"base_offset": r.int64()}
        length = r.int32()
        end = pos + 12 + length
        if end > len(data):
            break  # a partial trailing batch (allowed in fetch responses)
        b["leader_epoch"] = r.int32()
        b["magic"] = r.int8()
        b["crc"] = r.uint32()
        attrs = r.int16()
        b["attributes"] = attrs
        b["codec"] = CODECS.get(attrs & 7, str(attrs & 7))
        b["last_offset_delta"] = r.int32()
        b["base_timestamp"] = r.int64()
        b["max_timestamp"] = r.int64()
        b["producer_id"] = r.int64()
        b["producer_epoch"] = r.int16()
        b["base_sequence"] = r.int32()
        count = r.int32()
        b["count"] = count
        payload = data[r.pos:end]
        try:
            raw = payload if attrs & 7 == 0 else _decompress(attrs & 7, payload)
            rr = Reader(raw)
            recs = []
            for _ in range(count):
                rr.varint()  # length
                rr.int8()  # attributes
                rr.varint()  # timestamp delta
                rr.varint()  # offset delta
                kl = rr.varint()
                key = None if kl < 0 else rr.take(kl)
                vl = rr.varint()
                value = None if vl < 0 else rr.take(vl)
                headers = []
                for _ in range(rr.varint()):
                    hk = rr.take(rr.varint()).decode()
                    hl = rr.varint()
                    headers.append((hk, None if hl < 0 else rr.take(hl)))
                recs.append((key, value, headers))
            b["records"] = recs
        except ImportError as e:
            b["records"] = None
            b["undecoded"] = f"no python module for {b['codec']} ({e.name})"
        batches.append(b)
        pos = end
    return batches


def _txt(b):
    if b is None:
        return "null"
    try:
        s = b.decode("utf-8")
        if s.isprintable():
            return s
    except UnicodeDecodeError:
        pass
    return "0x" + b.hex()


def describe_batches(data, info=None):
    """Describes record batches; appends each batch's codec to info["codecs"]."""
    if info is None:
        info = {}
    if data is None:
        return "records=null"
    if not data:
        return "no records"
    out = []
    for b in parse_batches(data):
        info.setdefault("codecs", []).append(b["codec"])
        s = (f"batch(base_offset={b['base_offset']} codec={b['codec']} "
             f"count={b['count']} producer_id={b['producer_id']}")
        if b.get("records") is not None:
            recs = []
            for k, v, hs in b["records"]:
                h = ",".join(f"{hk}={_txt(hv)}" for hk, hv in hs)
                recs.append(f"{_txt(k)}:{_txt(v)}" + (f"[{h}]" if h else ""))
            s += " records=" + " ".join(recs)
        else:
            s += " records undecoded: " + b.get("undecoded", "?")
        out.append(s + ")")
    return "; ".join(out)


# ---------------------------------------------------------------- requests

def describe_request(api_key, v, body, info=None):
    """One-line description of a request body; notes unparsed trailing bytes.

    Fills `info` (if given) with "codecs" (of record batches) and, for
    Metadata, "topics" (None for all topics, else the list of names).
    """
    r = Reader(body)
    text = _describe_request(api_key, v, r, {} if info is None else info)
    if text and r.pos != len(body):
        text += f" (UNPARSED {len(body) - r.pos} trailing bytes)"
    return text


def _describe_request(api_key, v, r, info):
    fx = is_flexible(api_key, v)
    if api_key == 18:
        if v >= 3:
            s = f"client_software={r.string(True)}/{r.string(True)}"
            r.tags(True)
            return s
        return "empty body"
    if api_key == 3:
        n = r.array_len(fx)
        info["topics"] = None
        if n < 0:
            topics = "null(all)"
        else:
            names = []
            for _ in range(n):
                if v >= 10:
                    r.take(16)
                names.append(r.string(fx))
                r.tags(fx)
            topics = "[" + ",".join(str(x) for x in names) + "]"
            info["topics"] = names
        s = f"topics={topics}"
        if v >= 4:
            s += f" allow_auto_topic_creation={r.int8()}"
        if 8 <= v <= 10:
            s += f" include_cluster_authorized_operations={r.int8()}"
        if v >= 8:
            s += f" include_topic_authorized_operations={r.int8()}"
        r.tags(fx)
        return s
    if api_key == 0:
        txn = r.string(fx)
        acks, timeout = r.int16(), r.int32()
        parts = []
        for _ in range(r.array_len(fx)):
            name = r.string(fx)
            for _ in range(r.array_len(fx)):
                idx = r.int32()
                recs = r.bytes_(fx)
                r.tags(fx)
                parts.append(f"{name}[{idx}]: {describe_batches(recs, info)}")
            r.tags(fx)
        return (f"transactional_id={txn} acks={acks} timeout_ms={timeout} "
                + " | ".join(parts))
    if api_key == 1:
        s = f"replica_id={r.int32()} max_wait_ms={r.int32()} min_bytes={r.int32()}"
        if v >= 3:
            s += f" max_bytes={r.int32()}"
        if v >= 4:
            s += f" isolation_level={r.int8()}"
        if v >= 7:
            s += f" session_id={r.int32()} session_epoch={r.int32()}"
        parts = []
        for _ in range(r.array_len(fx)):
            name = r.take(16).hex() if v >= 13 else r.string(fx)
            for _ in range(r.array_len(fx)):
                p = r.int32()
                epoch = r.int32() if v >= 9 else None
                off = r.int64()
                if v >= 12:
                    r.int32()
                lso = r.int64() if v >= 5 else None
                pmb = r.int32()
                r.tags(fx)
                parts.append(f"{name}[{p}] fetch_offset={off} partition_max_bytes={pmb}"
                             + (f" current_leader_epoch={epoch}" if epoch is not None else "")
                             + (f" log_start_offset={lso}" if lso is not None else ""))
            r.tags(fx)
        if v >= 7:
            for _ in range(r.array_len(fx)):
                r.take(16) if v >= 13 else r.string(fx)
                for _ in range(r.array_len(fx)):
                    r.int32()
                r.tags(fx)
        if v >= 11:
            s += f" rack_id={r.string(fx)!r}"
        r.tags(fx)
        return s + " " + " | ".join(parts)
    if api_key == 2:
        s = f"replica_id={r.int32()}"
        if v >= 2:
            s += f" isolation_level={r.int8()}"
        parts = []
        for _ in range(r.array_len(fx)):
            name = r.string(fx)
            for _ in range(r.array_len(fx)):
                p = r.int32()
                if v >= 4:
                    r.int32()
                ts = r.int64()
                if v == 0:
                    r.int32()
                r.tags(fx)
                parts.append(f"{name}[{p}] timestamp={ts}")
            r.tags(fx)
        return s + " " + " | ".join(parts)
    return ""


# ---------------------------------------------------------------- responses

def describe_response(api_key, v, body, info=None):
    """One-line description of a response body; notes unparsed trailing bytes.

    Fills `info` (if given) with "codecs", the codecs of record batches.
    """
    r = Reader(body)
    text = _describe_response(api_key, v, r, {} if info is None else info)
    if text and r.pos != len(body):
        text += f" (UNPARSED {len(body) - r.pos} trailing bytes)"
    return text


def _describe_response(api_key, v, r, info):
    fx = is_flexible(api_key, v)
    if api_key == 18:
        err = r.int16()
        n = r.array_len(fx)
        keys = []
        for _ in range(n):
            k, lo, hi = r.int16(), r.int16(), r.int16()
            r.tags(fx)
            keys.append(f"{k}:{lo}-{hi}")
        s = f"error_code={err} api_keys=[{' '.join(keys)}]"
        if v >= 1:
            s += f" throttle_time_ms={r.int32()}"
        r.tags(fx)
        return s
    if api_key == 3:
        if v >= 3:
            r.int32()
        brokers = []
        for _ in range(r.array_len(fx)):
            node, host, port = r.int32(), r.string(fx), r.int32()
            if v >= 1:
                r.string(fx)
            r.tags(fx)
            brokers.append(f"{node}@{host}:{port}")
        s = "brokers=" + ",".join(brokers)
        if v >= 2:
            s += f" cluster_id={r.string(fx)}"
        if v >= 1:
            s += f" controller_id={r.int32()}"
        topics = []
        for _ in range(r.array_len(fx)):
            err = r.int16()
            name = r.string(fx)
            if v >= 10:
                r.take(16)
            if v >= 1:
                r.int8()
            nparts = r.array_len(fx)
            for _ in range(nparts):
                r.int16(), r.int32(), r.int32()
                if v >= 7:
                    r.int32()
                for _ in range(r.array_len(fx)):
                    r.int32()
                for _ in range(r.array_len(fx)):
                    r.int32()
                if v >= 5:
                    for _ in range(r.array_len(fx)):
                        r.int32()
                r.tags(fx)
            if v >= 8:
                r.int32()
            r.tags(fx)
            topics.append(f"{name}(error={err},partitions={nparts})")
        if 8 <= v <= 10:
            r.int32()
        r.tags(fx)
        return s + " topics=" + ",".join(topics)
    if api_key == 0:
        parts = []
        for _ in range(r.array_len(fx)):
            name = r.string(fx)
            for _ in range(r.array_len(fx)):
                idx, err, base = r.int32(), r.int16(), r.int64()
                parts.append(f"{name}[{idx}] error_code={err} base_offset={base}")
                if v >= 2:
                    r.int64()
                if v >= 5:
                    r.int64()
                if v >= 8:
                    for _ in range(r.array_len(fx)):
                        r.int32()
                        r.string(fx)
                        r.tags(fx)
                    r.string(fx)
                r.tags(fx)
            r.tags(fx)
        s = " | ".join(parts)
        if v >= 1:
            s += f" throttle_time_ms={r.int32()}"
        r.tags(fx)
        return s
    if api_key == 1:
        s = ""
        if v >= 1:
            s += f"throttle_time_ms={r.int32()} "
        if v >= 7:
            s += f"error_code={r.int16()} session_id={r.int32()} "
        parts = []
        for _ in range(r.array_len(fx)):
            name = r.take(16).hex() if v >= 13 else r.string(fx)
            for _ in range(r.array_len(fx)):
                p, err, hw = r.int32(), r.int16(), r.int64()
                if v >= 4:
                    r.int64()
                if v >= 5:
                    r.int64()
                if v >= 4:
                    for _ in range(r.array_len(fx)):
                        r.int64(), r.int64()
                        r.tags(fx)
                if v >= 11:
                    r.int32()
                recs = r.bytes_(fx)
                r.tags(fx)
                parts.append(f"{name}[{p}] error_code={err} high_watermark={hw} "
                             + describe_batches(recs, info))
            r.tags(fx)
        r.tags(fx)
        return s + " | ".join(parts)
    return ""
