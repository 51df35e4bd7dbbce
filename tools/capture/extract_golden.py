#!/usr/bin/env python3
"""Turn a loopback pcap of Kafka traffic into golden frame files.

    extract_golden.py --pcap run.pcap --server-ports 40001 --client kcat \
        --client-version "kcat 1.7.1 / librdkafka 2.0.2" --out-dir DIR [--list]

Reassembles each TCP connection to one of --server-ports (either direction),
splits both directions into Kafka frames (int32 size + payload), pairs each
response with its request by correlation id and writes:

  <client>_<api>_v<version>[_<variant>].bin           a request frame
  <client>_<api>_v<version>[_<variant>]_response.bin  the broker's response

Each file holds one whole frame as it travelled, 4-byte size prefix included.
The variant is read from the bytes: for Produce the codec of the request's
record batch, for Fetch the codec of the batch in the response ("empty" when
it carries none), for Metadata "alltopics" (null topic list) or "notopics"
(empty list; a plain name means named topics). The first exchange of each
(api, version, variant) is kept; a file that already exists is left alone.
Responses are written for the APIs in --response-apis only, and only when
kafka_decode parses them to the last byte (a broker's malformed answer is no
golden). One row per written file is appended to DIR/MANIFEST.tsv.
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_decode as kd  # noqa: E402

MANIFEST_COLUMNS = ["file", "client", "client_version", "client_id", "api_key",
                    "api", "api_version", "header_version", "correlation_id",
                    "direction", "contents"]


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic != 0xA1B2C3D4:
        raise SystemExit(f"{path}: not a little-endian microsecond pcap")
    if struct.unpack_from("<I", data, 20)[0] != 1:
        raise SystemExit(f"{path}: link type is not Ethernet")
    pos = 24
    while pos + 16 <= len(data):
        _, _, caplen, _ = struct.unpack_from("<IIII", data, pos)
        yield data[pos + 16:pos + 16 + caplen]
        pos += 16 + caplen


def tcp_segments(frames):
    """Yields (src, dst, seq, flags, payload) with src/dst = (ip, port)."""
    for fr in frames:
        ethertype = struct.unpack_from("!H", fr, 12)[0]
        off = 14
        if ethertype == 0x0800:
            ihl = (fr[off] & 0x0F) * 4
            total = struct.unpack_from("!H", fr, off + 2)[0]
            if fr[off + 9] != 6:
                continue
            src_ip, dst_ip = fr[off + 12:off + 16], fr[off + 16:off + 20]
            end = off + total
            off += ihl
        elif ethertype == 0x86DD:
            plen = struct.unpack_from("!H", fr, off + 4)[0]
            if fr[off + 6] != 6:
                continue
            src_ip, dst_ip = fr[off + 8:off + 24], fr[off + 24:off + 40]
            off += 40
            end = off + plen
        else:
            continue
        sport, dport, seq = struct.unpack_from("!HHI", fr, off)
        doff = (fr[off + 12] >> 4) * 4
        flags = fr[off + 13]
        yield (src_ip, sport), (dst_ip, dport), seq, flags, fr[off + doff:end]


def reassemble(segments):
    """{(src, dst): bytes} per direction, ordered by first sight."""
    isn, chunks, order = {}, {}, []
    for src, dst, seq, flags, payload in segments:
        key = (src, dst)
        if key not in chunks:
            chunks[key] = {}
            order.append(key)
        if flags & 0x02:  # SYN: data starts at ISN + 1
            isn[key] = (seq + 1) & 0xFFFFFFFF
            continue
        if payload:
            chunks[key].setdefault(seq, payload)
    streams = {}
    for key in order:
        parts = chunks[key]
        if not parts:
            continue
        base = isn.get(key, min(parts))
        buf = bytearray()
        for seq in sorted(parts, key=lambda s: (s - base) & 0xFFFFFFFF):
            rel = (seq - base) & 0xFFFFFFFF
            data = parts[seq]
            if rel > len(buf):
                print(f"warning: gap in {key} at {len(buf)}", file=sys.stderr)
                break
            buf += data[len(buf) - rel:]
        streams[key] = bytes(buf)
    return streams, order


def split_frames(stream):
    frames, pos = [], 0
    while pos + 4 <= len(stream):
        n = struct.unpack_from(">i", stream, pos)[0]
        if pos + 4 + n > len(stream):
            break
        frames.append(stream[pos:pos + 4 + n])
        pos += 4 + n
    return frames


def exchanges(pcap, server_ports):
    """Yields (request dict, request frame, response frame or None)."""
    streams, order = reassemble(tcp_segments(read_pcap(pcap)))
    for src, dst in order:
        if dst[1] not in server_ports or (src, dst) not in streams:
            continue
        responses = {}
        for fr in split_frames(streams.get((dst, src), b"")):
            responses[struct.unpack_from(">i", fr, 4)[0]] = fr
        for fr in split_frames(streams[(src, dst)]):
            hdr, body_off = kd.parse_request_header(fr[4:])
            hdr["body"] = fr[4 + body_off:]
            yield hdr, fr, responses.get(hdr["correlation_id"])


def response_body(api_key, version, frame):
    off = 4 + 4  # size, correlation id
    if kd.response_header_version(api_key, version) >= 1:
        r = kd.Reader(frame, off)
        r.tags(True)
        off = r.pos
    return frame[off:]


def variant_of(api, hdr, req_info, resp_info):
    if api == "produce":
        return "_".join(req_info.get("codecs", [])) or "norecords"
    if api == "fetch":
        return "_".join(resp_info.get("codecs", [])) or "empty"
    if api == "metadata" and "topics" in req_info:
        if req_info["topics"] is None:
            return "alltopics"
        if not req_info["topics"]:
            # An empty list asks for no topics, except in v0 where it means all.
            return "alltopics" if hdr["api_version"] == 0 else "notopics"
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--server-ports", required=True)
    ap.add_argument("--client", required=True, help="file name prefix")
    ap.add_argument("--client-version", default="")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--response-apis",
                    default="api_versions,metadata,produce,fetch")
    ap.add_argument("--list", action="store_true",
                    help="only print every exchange, write nothing")
    args = ap.parse_args()
    ports = {int(p) for p in args.server_ports.split(",")}
    response_apis = set(args.response_apis.split(","))

    chosen = {}  # stem -> (hdr, req, resp, req_text, resp_text)
    for hdr, req, resp in exchanges(args.pcap, ports):
        k, v = hdr["api_key"], hdr["api_version"]
        api = kd.API_NAMES.get(k, f"api{k}")
        req_info, resp_info = {}, {}
        try:
            req_text = kd.describe_request(k, v, hdr["body"], req_info)
        except ValueError as e:
            req_text = f"(not described: {e})"
        resp_text = None
        if resp is not None:
            try:
                resp_text = kd.describe_response(k, v, response_body(k, v, resp),
                                                 resp_info)
            except ValueError as e:
                resp_text = f"(not described: {e})"
        if args.list:
            print(f"{api} v{v} corr={hdr['correlation_id']} "
                  f"client_id={hdr['client_id']} len={len(req)} "
                  f"resp={len(resp) if resp else None}: {req_text[:300]}"
                  f"\n    -> {(resp_text or '')[:300]}")
            continue
        stem = f"{args.client}_{api}_v{v}"
        variant = variant_of(api, hdr, req_info, resp_info)
        if variant:
            stem += f"_{variant}"
        if stem not in chosen:
            chosen[stem] = (hdr, req, resp, req_text, resp_text)
    if args.list:
        return

    manifest = os.path.join(args.out_dir, "MANIFEST.tsv")
    rows = []
    for stem, (hdr, req, resp, req_text, resp_text) in sorted(chosen.items()):
        k, v = hdr["api_key"], hdr["api_version"]
        api = kd.API_NAMES.get(k, f"api{k}")
        path = os.path.join(args.out_dir, stem + ".bin")
        if os.path.exists(path):
            continue
        common = [args.client, args.client_version, hdr["client_id"] or "",
                  str(k), api, str(v)]
        with open(path, "wb") as f:
            f.write(req)
        rows.append([stem + ".bin"] + common + [
            str(hdr["header_version"]), str(hdr["correlation_id"]), "request",
            req_text])
        if resp is None or api not in response_apis:
            continue
        if resp_text is None or "UNPARSED" in resp_text or \
                resp_text.startswith("(not described"):
            print(f"  skipped response to {stem}: {resp_text}", file=sys.stderr)
            continue
        with open(os.path.join(args.out_dir, stem + "_response.bin"), "wb") as f:
            f.write(resp)
        rows.append([stem + "_response.bin"] + common + [
            str(kd.response_header_version(k, v)), str(hdr["correlation_id"]),
            "response", resp_text])
    new = not os.path.exists(manifest)
    with open(manifest, "a") as f:
        if new:
            f.write("\t".join(MANIFEST_COLUMNS) + "\n")
        for row in rows:
            f.write("\t".join(c.replace("\t", " ").replace("\n", " ")
                              for c in row) + "\n")
    for row in rows:
        print(f"  {row[0]}", file=sys.stderr)


if __name__ == "__main__":
    main()
