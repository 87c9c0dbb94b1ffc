#!/usr/bin/python3
"""Endpoints of bench/ban_latency.ts, run inside its test namespaces.

peer:   accepts peer wire connections on every local address; answers each handshake (the
        packet that proves the flow and gets the peer banned), then keeps sending numbered UDP
        datagrams to the client from the same address: a burst right after the answer, then one
        every 0.5 ms. Each datagram carries its sequence number and its send time. On SIGTERM it
        writes, per peer address, the send time of the answer and of every datagram.
client: opens one peer wire connection to each of N peer addresses (a few at a time), and
        records every datagram that reaches it. On completion it writes what it received.
wakeup: measures the machine's cross-CPU wake-up latency (a baseline for the ban latency).

Times are CLOCK_REALTIME nanoseconds taken right before the send system call. Plain sockets and
synchronous system calls: the send time of each packet is known to a few microseconds.
"""

import argparse
import ipaddress
import json
import signal
import socket
import struct
import sys
import threading
import time

HANDSHAKE = (b"\x13BitTorrent protocol" + bytes([0, 0, 0, 0, 0, 0x10, 0, 5]) +
             bytes.fromhex("0123456789abcdef0123456789abcdef01234567"))
CLIENT_ID = b"-TR3000-benchclient0"
PEER_ID = b"-qB4500-benchpeer000"
# Handshake, bitfield, unchoke.
REPLY = HANDSHAKE + PEER_ID + bytes([0, 0, 0, 3, 5, 0xFF, 0xF0, 0, 0, 0, 1, 1])
DATAGRAM = struct.Struct(">IQ")  # sequence number, send time (ns)
BURST = 40
TRICKLE = 40
TRICKLE_GAP = 0.0005


def recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def peer(args: argparse.Namespace) -> None:
    records = {}
    lock = threading.Lock()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                if len(recv_exactly(conn, 68)) < 68:
                    return
                local = conn.getsockname()[0]
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                udp.bind((local, 0))
                sent = []
                answered = time.time_ns()
                conn.sendall(REPLY)
                target = (args.client, args.udp_port)
                for seq in range(BURST + TRICKLE):
                    if seq >= BURST:
                        time.sleep(TRICKLE_GAP)
                    stamp = time.time_ns()
                    try:
                        udp.sendto(DATAGRAM.pack(seq, stamp), target)
                    except OSError:
                        continue
                    sent.append(stamp)
                udp.close()
                with lock:
                    records[local] = {"answered": answered, "sent": sent}
            except OSError:
                pass

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", args.port))
    server.listen(256)

    def stop(*_: object) -> None:
        with lock:
            with open(args.out, "w") as f:
                json.dump(records, f)
        sys.stdout.write("done\n")
        sys.stdout.flush()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def client(args: argparse.Namespace) -> None:
    received = []
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    udp.bind(("0.0.0.0", args.udp_port))
    udp.settimeout(0.2)
    done = threading.Event()

    def receive() -> None:
        while not done.is_set():
            try:
                data, (address, _) = udp.recvfrom(64)
            except socket.timeout:
                continue
            seq, stamp = DATAGRAM.unpack(data[:DATAGRAM.size])
            received.append([address, seq, stamp, time.time_ns()])

    receiver = threading.Thread(target=receive)
    receiver.start()
    base = ipaddress.IPv4Address(args.base)
    targets = [str(base + i) for i in range(args.count)]
    answered = []
    lock = threading.Lock()

    def work(part: list) -> None:
        for address in part:
            try:
                with socket.create_connection((address, args.port), timeout=1) as conn:
                    conn.sendall(HANDSHAKE + CLIENT_ID)
                    reply = recv_exactly(conn, len(REPLY))
                    if reply[:20] == HANDSHAKE[:20]:
                        with lock:
                            answered.append(address)
                    time.sleep(args.hold)
            except OSError:
                pass

    workers = [threading.Thread(target=work, args=(targets[i::args.concurrency],))
               for i in range(args.concurrency)]
    started = time.time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.time() - started
    time.sleep(0.3)
    done.set()
    receiver.join()
    with open(args.out, "w") as f:
        json.dump({"answered": answered, "received": received, "seconds": elapsed}, f)


def wakeup(args: argparse.Namespace) -> None:
    """The machine's own wake-up latency: a process blocked in poll(2) on one CPU, woken by a
    pipe write from another CPU at random moments (what btblocker's idle capture loop goes
    through for each packet that arrives while it waits)."""
    import os
    import random
    import select
    r, w = os.pipe()
    cpus = sorted(os.sched_getaffinity(0))
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.sched_setaffinity(0, {cpus[-1]})
        poller = select.poll()
        poller.register(r, select.POLLIN)
        samples = []
        while True:
            poller.poll(1000)
            data = os.read(r, 8)
            if len(data) < 8 or data == bytes(8):
                break
            samples.append(time.time_ns() - int.from_bytes(data, "big"))
        samples.sort()
        n = len(samples)
        print(json.dumps({"n": n, "p50": samples[n // 2] / 1e6,
                          "p99": samples[min(n - 1, int(n * 0.99))] / 1e6,
                          "max": samples[-1] / 1e6}), flush=True)
        os._exit(0)
    os.close(r)
    os.sched_setaffinity(0, {cpus[0]})
    for _ in range(args.count):
        time.sleep(random.uniform(0.001, 0.01))
        os.write(w, time.time_ns().to_bytes(8, "big"))
    os.write(w, bytes(8))
    os.waitpid(pid, 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["peer", "client", "wakeup"])
    parser.add_argument("--port", type=int, default=6881)
    parser.add_argument("--udp-port", type=int, default=9999)
    parser.add_argument("--client", default="10.77.1.2")
    parser.add_argument("--base", default="10.78.0.1")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--hold", type=float, default=0.03)
    parser.add_argument("--out")
    args = parser.parse_args()
    {"peer": peer, "client": client, "wakeup": wakeup}[args.role](args)


if __name__ == "__main__":
    main()
