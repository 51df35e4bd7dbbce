#!/usr/bin/env python3
"""Capture loopback TCP traffic on given ports into a pcap file.

A tcpdump stand-in using only the standard library (AF_PACKET raw socket), so
the capture needs no extra package. Linux only, needs root (CAP_NET_RAW).

    sniff.py --ports 40001,40002 --out run.pcap

Prints "ready" on stderr once the socket is bound (start the client after
that) and stops, flushing the file, on SIGINT or SIGTERM. Only IPv4/IPv6 TCP
segments with a source or destination port in --ports are written. On the
loopback interface the kernel shows every segment twice (once outgoing, once
incoming); only the incoming copy is kept.
"""
import argparse
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
LINKTYPE_ETHERNET = 1


def tcp_ports(frame):
    """Returns (sport, dport) of an Ethernet/IP/TCP frame, or None."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    off = 14
    if ethertype == 0x0800:
        if len(frame) < off + 20:
            return None
        ihl = (frame[off] & 0x0F) * 4
        if frame[off + 9] != 6:
            return None
        off += ihl
    elif ethertype == 0x86DD:
        if len(frame) < off + 40 or frame[off + 6] != 6:
            return None
        off += 40
    else:
        return None
    if len(frame) < off + 4:
        return None
    return struct.unpack_from("!HH", frame, off)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports", required=True, help="comma-separated TCP ports")
    ap.add_argument("--out", required=True, help="pcap file to write")
    ap.add_argument("--iface", default="lo")
    args = ap.parse_args()
    ports = {int(p) for p in args.ports.split(",") if p}

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((args.iface, 0))
    sock.settimeout(0.2)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    kept = 0
    with open(args.out, "wb") as out:
        # pcap global header: magic, v2.4, tz 0, sigfigs 0, snaplen, linktype.
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144,
                              LINKTYPE_ETHERNET))
        print("ready", file=sys.stderr, flush=True)
        while not stop:
            try:
                frame, addr = sock.recvfrom(262144)
            except socket.timeout:
                continue
            except InterruptedError:
                continue
            if addr[2] == PACKET_OUTGOING:
                continue
            tp = tcp_ports(frame)
            if tp is None or (tp[0] not in ports and tp[1] not in ports):
                continue
            now = time.time()
            sec = int(now)
            usec = int((now - sec) * 1e6)
            out.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            out.write(frame)
            kept += 1
    print(f"sniff: {kept} segments -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
