#!/usr/bin/env bash
# The daemon's own cost per playing call (docs/performance.md, "Media towards a network
# card"): on loopback every RTP packet the daemon sends is also delivered into the load
# generator's socket, and the kernel charges that delivery (and the generator's wake-ups)
# to the daemon's sendto. This script measures the same calls twice in one session:
#
#   loopback  the usual media-density run (centralino-load receives the RTP);
#   sink      the calls offer 198.18.0.2 (RFC 2544 benchmarking range) as their media
#             address; it sits behind a veth device whose root qdisc drops every packet
#             (pfifo, limit 0), so each packet goes through the whole UDP/IP output path
#             of a real network card, then is freed. The qdisc's drop counter proves the
#             packets were sent.
#
# and prints the daemon's CPU per playing call for both. Needs root (it creates and
# removes the veth pair `csink0`/`csink1`).
#
#   tests/perf/media_sink.sh                     # NS="1000 2000", RUNS=3
#   NS="3000" RUNS=5 tests/perf/media_sink.sh
#
# Knobs: NS, RUNS, RATE (calls/s), HOLD (s, < the 9.3 s greeting), DAEMON (a prebuilt
# daemon binary), SIP_PORT, RTP_PORTS.
set -euo pipefail
cd "$(dirname "$0")/../.."

NS=${NS:-"1000 2000"}
RUNS=${RUNS:-3}
RATE=${RATE:-1000}
HOLD=${HOLD:-8}
SIP_PORT=${SIP_PORT:-25080}
RTP_PORTS=${RTP_PORTS:-10000-29999}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
DEV=csink0
PEER=csink1
HOST_IP=198.18.0.1
SINK_IP=198.18.0.2

[ "$(id -u)" = 0 ] || { echo "media_sink.sh needs root: it creates a veth pair" >&2; exit 1; }
command -v tc >/dev/null || { echo "tc not found: apt-get install iproute2" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
cargo build --release --bins --quiet
DAEMON=${DAEMON:-$TARGET_DIR/release/centralino}
LOAD=$TARGET_DIR/release/centralino-load
OUT=$(mktemp -d)

DPID=""
cleanup() {
    [ -n "$DPID" ] && { kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true; }
    ip link del "$DEV" 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT
ip link del "$DEV" 2>/dev/null || true
ip link add "$DEV" type veth peer name "$PEER"
ip addr add "$HOST_IP/24" dev "$DEV"
ip link set "$PEER" up
ip link set "$DEV" up
# No ARP on the way: the sink has a fixed (made-up) link-layer address.
ip neigh replace "$SINK_IP" lladdr 02:00:00:00:00:02 dev "$DEV" nud permanent
tc qdisc replace dev "$DEV" root pfifo limit 0

dropped() { tc -s qdisc show dev "$DEV" | grep -o 'dropped [0-9]*' | head -n 1 | cut -d' ' -f2; }

# One run: start the daemon on $1, place $2 calls with the extra generator flags in $3…
run() {
    local ip=$1 n=$2; shift 2
    "$DAEMON" run --sip-listen "$ip:$SIP_PORT" --rtp-ports "$RTP_PORTS" \
        --outbox "$OUT/outbox" >"$OUT/daemon.log" 2>&1 &
    DPID=$!
    for _ in $(seq 100); do ss -Hlun "sport = :$SIP_PORT" | grep -q . && break; sleep 0.1; done
    "$LOAD" --target "$ip:$SIP_PORT" --local-ip "$ip" --calls "$n" --rate "$RATE" \
        --hold "$HOLD" --daemon-pid "$DPID" --json "$@" >"$OUT/run.json" || true
    kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=""
    python3 - "$OUT/run.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
cpu, calls = d["daemon"]["cpu_pct"], d["daemon"]["calls"]
print(f'{d["answered"]} {d["failed"]} {cpu} {calls} {cpu / max(calls, 1):.4f}')
EOF
}

echo "daemon $DAEMON, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| calls | run | media to | answered | failed | daemon CPU %% | calls up | %% of a core per call | packets dropped at the sink |\n|---|---|---|---|---|---|---|---|---|\n'
ROWS=$OUT/rows
for n in $NS; do
    for r in $(seq "$RUNS"); do
        read -r ok failed cpu up per <<<"$(run 127.0.0.1 "$n")"
        printf '| %s | %s | loopback | %s | %s | %s | %s | %s | — |\n' "$n" "$r" "$ok" "$failed" "$cpu" "$up" "$per"
        echo "$n loopback $per" >>"$ROWS"
        d0=$(dropped)
        read -r ok failed cpu up per <<<"$(run "$HOST_IP" "$n" --media-sink "$SINK_IP")"
        d1=$(dropped)
        printf '| %s | %s | sink | %s | %s | %s | %s | %s | %s (~%s expected) |\n' "$n" "$r" "$ok" "$failed" \
            "$cpu" "$up" "$per" "$((d1 - d0))" "$((ok * HOLD * 50))"
        echo "$n sink $per" >>"$ROWS"
    done
done

echo
echo "Medians (min–max) of % of a core per playing call:"
python3 - "$ROWS" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, mode, per = line.split()
    rows.setdefault((int(n), mode), []).append(float(per))
for (n, mode), v in sorted(rows.items()):
    print(f"  {n:>6} calls, {mode:<8}: {statistics.median(v):.4f} ({min(v):.4f}–{max(v):.4f})")
EOF
