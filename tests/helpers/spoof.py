#!/usr/bin/python3
"""Sends BitTorrent packets with forged source addresses (run with Debian's python3-scapy).

An off-path attacker can forge any source address but never sees the answers. This sends, from
each forged source, what such an attacker would send to get that address banned: DHT queries
(which a local DHT node answers), unsolicited DHT responses with guessed transaction ids, uTP
SYN, DATA and STATE packets with guessed connection ids and acknowledgement numbers (which a
local uTP endpoint answers as well), UDP tracker connect requests and forged connect and announce
responses with guessed transaction ids, and TCP SYNs carrying a peer wire handshake (a local
listener answers with a SYN-ACK the forged source never sees).

    spoof.py --target 10.77.1.2 --target fd77:1::2 --source 10.77.2.3 --source 10.77.2.100 ...
             [--dht-port 6881] [--utp-port 6882] [--tracker-port 6969] [--tcp-port 6881]
             [--rounds 20] [--interval 0.0005]

Prints one JSON line with the number of packets sent.
"""

import argparse
import json
import random
import struct
import time

from scapy.all import IP, TCP, UDP, IPv6, Raw, conf, send  # noqa: E402

conf.verb = 0


def krpc_query(tid: bytes, method: bytes) -> bytes:
    node_id = bytes(random.getrandbits(8) for _ in range(20))
    if method == b"ping":
        args = b"d2:id20:" + node_id + b"e"
    else:
        args = b"d2:id20:" + node_id + b"9:info_hash20:" + bytes(range(20)) + b"e"
    return (b"d1:a" + args + b"1:q" + str(len(method)).encode() + b":" + method +
            b"1:t" + str(len(tid)).encode() + b":" + tid + b"1:y1:qe")


def krpc_response(tid: bytes) -> bytes:
    node_id = bytes(random.getrandbits(8) for _ in range(20))
    return (b"d1:rd2:id20:" + node_id + b"5:token8:abcdefghe1:t" + str(len(tid)).encode() +
            b":" + tid + b"1:y1:re")


def utp(kind: int, conn: int, seq: int, ack: int, payload: bytes = b"") -> bytes:
    stamp = int(time.monotonic() * 1e6) & 0xFFFFFFFF or 1
    return struct.pack(">BBHIIIHH", (kind << 4) | 1, 0, conn & 0xFFFF, stamp, 0, 1 << 20,
                       seq & 0xFFFF, ack & 0xFFFF) + payload


TRACKER_PROTOCOL_ID = 0x41727101980


def tracker_packets(tid: int) -> list:
    connect = struct.pack(">QII", TRACKER_PROTOCOL_ID, 0, tid)
    connect_response = struct.pack(">IIQ", 0, random.getrandbits(32), random.getrandbits(64))
    peers = b"".join(struct.pack(">IH", random.getrandbits(32), 6881) for _ in range(5))
    announce_response = struct.pack(">IIIII", 1, random.getrandbits(32), 1800, 3, 2) + peers
    return [connect, connect_response, announce_response]


HANDSHAKE = (b"\x13BitTorrent protocol" + bytes(8) + bytes(range(20)) +
             b"-UT3600-spoofer00000")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", action="append", required=True)
    parser.add_argument("--source", action="append", required=True)
    parser.add_argument("--dht-port", type=int, default=6881)
    parser.add_argument("--utp-port", type=int, default=6882)
    parser.add_argument("--tracker-port", type=int, default=6969)
    parser.add_argument("--tcp-port", type=int, default=6881)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.0005)
    args = parser.parse_args()

    packets = []
    for _ in range(args.rounds):
        for source in args.source:
            six = ":" in source
            for target in args.target:
                if (":" in target) != six:
                    continue
                ip = IPv6(src=source, dst=target) if six else IP(src=source, dst=target)
                sport = random.randint(1024, 65535)
                tid = struct.pack(">H", random.getrandbits(16))
                for payload in (krpc_query(tid, b"ping"), krpc_query(tid + b"x", b"get_peers"),
                                krpc_response(struct.pack(">H", random.getrandbits(16)))):
                    packets.append(ip / UDP(sport=sport, dport=args.dht_port) / Raw(payload))
                conn = random.getrandbits(16)
                seq = random.getrandbits(16)
                guess = random.getrandbits(16)
                uport = random.randint(1024, 65535)
                for payload in (utp(4, conn, seq, 0),
                                utp(0, conn + 1, seq + 1, guess, HANDSHAKE),
                                utp(2, conn + 1, seq + 2, guess + 1),
                                utp(0, conn + 1, seq + 2, guess + 2, HANDSHAKE)):
                    packets.append(ip / UDP(sport=uport, dport=args.utp_port) / Raw(payload))
                tport = random.randint(1024, 65535)
                for payload in tracker_packets(random.getrandbits(32)):
                    packets.append(ip / UDP(sport=tport, dport=args.tracker_port) / Raw(payload))
                syn = TCP(sport=random.randint(1024, 65535), dport=args.tcp_port, flags="S",
                          seq=random.getrandbits(32))
                packets.append(ip / syn / Raw(HANDSHAKE))
    send(packets, inter=args.interval)
    print(json.dumps({"sent": len(packets)}))


if __name__ == "__main__":
    main()
