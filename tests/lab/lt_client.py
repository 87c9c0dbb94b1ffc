#!/usr/bin/python3
"""A BitTorrent client on python3-libtorrent for the lab's scenarios that the packaged clients
cannot force: RC4-only encryption (MSE/PE), uTP only, TCP only, DHT only, a UDP tracker, IPv6
only, Local Service Discovery. It also runs the bare DHT node that lets two peers find each
other without a tracker.

Run with Debian's /usr/bin/python3 (it has the libtorrent module). Prints one JSON object per
line on stdout: {"event": "ready"}, then "status" lines every second, "complete" when the
download finished, "dht_announce" when this node received a DHT announce (the DHT node), and
"peer" lines when a peer connection is made or fails. Runs until SIGTERM/SIGINT.

    lt_client.py --role seed|leech|dht --listen IP:PORT [--torrent FILE --save DIR]
                 [--transport tcp|utp|both] [--encryption plain|rc4|allowed]
                 [--dht] [--dht-bootstrap IP:PORT] [--lsd]
"""

import argparse
import json
import signal
import sys
import time

import libtorrent as lt


def emit(event, **fields):
    fields["event"] = event
    fields["t"] = round(time.time(), 3)
    print(json.dumps(fields), flush=True)


def settings(args):
    tcp = args.transport in ("tcp", "both")
    utp = args.transport in ("utp", "both")
    s = {
        "listen_interfaces": args.listen,
        "listen_system_port_fallback": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_dht": args.dht or args.role == "dht",
        "enable_lsd": args.lsd,
        "enable_outgoing_tcp": tcp,
        "enable_incoming_tcp": tcp,
        "enable_outgoing_utp": utp,
        "enable_incoming_utp": utp,
        "dht_bootstrap_nodes": args.dht_bootstrap or "",
        # Three DHT nodes on private addresses, two in one /24: lift the limits meant for
        # the internet's DHT.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "local_service_announce_interval": 5,
        "allow_multiple_connections_per_ip": True,
        # A peer that closes an attempt (a seeder still setting a torrent up may) is retried
        # after this many seconds instead of 60: keeps the lab's download times steady.
        "min_reconnect_time": 2,
        "alert_mask": lt.alert.category_t.all_categories,
    }
    if args.encryption == "plain":
        s.update(out_enc_policy=int(lt.enc_policy.disabled),
                 in_enc_policy=int(lt.enc_policy.disabled),
                 allowed_enc_level=int(lt.enc_level.plaintext))
    elif args.encryption == "rc4":
        s.update(out_enc_policy=int(lt.enc_policy.forced),
                 in_enc_policy=int(lt.enc_policy.forced),
                 allowed_enc_level=int(lt.enc_level.rc4),
                 prefer_rc4=True)
    return s


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--role", choices=("seed", "leech", "dht"), required=True)
    p.add_argument("--listen", required=True, help="listen_interfaces, e.g. 10.0.0.1:6881")
    p.add_argument("--torrent")
    p.add_argument("--save")
    p.add_argument("--transport", choices=("tcp", "utp", "both"), default="both")
    p.add_argument("--encryption", choices=("plain", "rc4", "allowed"), default="allowed")
    p.add_argument("--dht", action="store_true")
    p.add_argument("--dht-bootstrap")
    p.add_argument("--lsd", action="store_true")
    args = p.parse_args()
    if args.role != "dht" and (args.torrent is None or args.save is None):
        p.error("--torrent and --save are needed to seed or leech")

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    ses = lt.session(settings(args))
    handle = None
    if args.role != "dht":
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(args.torrent)
        atp.save_path = args.save
        if args.role == "seed":
            atp.flags |= lt.torrent_flags.seed_mode
        handle = ses.add_torrent(atp)

    ready = False
    finished = False
    last_status = 0.0
    last_dht_announce = 0.0
    while not stop:
        ses.wait_for_alert(200)
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert) and not ready:
                ready = True
                emit("ready", listen=args.listen, role=args.role)
            elif isinstance(a, lt.listen_failed_alert):
                emit("error", message=a.message())
                return 1
            elif isinstance(a, lt.torrent_finished_alert) and args.role == "leech":
                finished = True
                emit("complete")
            elif isinstance(a, lt.dht_announce_alert):
                emit("dht_announce", ip=str(a.ip), port=a.port, info_hash=str(a.info_hash))
            elif isinstance(a, lt.peer_connect_alert):
                emit("peer", what="connect", endpoint=str(a.endpoint))
            elif isinstance(a, (lt.peer_disconnected_alert, lt.peer_error_alert)):
                emit("peer", what="gone", endpoint=str(a.endpoint), message=a.message())
            elif isinstance(a, (lt.tracker_reply_alert, lt.tracker_error_alert)):
                emit("tracker", message=a.message())
        now = time.time()
        # Announce to the DHT again every few seconds until done: the lab's DHT has three
        # nodes, and the first announce may come before the routing table has any.
        if handle is not None and args.dht and not finished and now - last_dht_announce > 3:
            last_dht_announce = now
            handle.force_dht_announce()
        if handle is not None and now - last_status >= 1:
            last_status = now
            st = handle.status()
            emit("status", state=str(st.state), progress=round(st.progress, 4),
                 peers=st.num_peers, down=st.total_payload_download,
                 up=st.total_payload_upload)
        elif handle is None and now - last_status >= 1:
            last_status = now
            emit("status", dht_nodes=ses.status().dht_nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
