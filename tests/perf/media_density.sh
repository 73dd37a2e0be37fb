#!/usr/bin/env bash
# Media-density benchmark (docs/performance.md): builds release, starts the daemon with a
# big RTP range, runs centralino-load for each N (RUNS times) and prints medians + spread.
#
#   tests/perf/media_density.sh                  # N = 500 1000 2000 5000, 3 runs each
#   NS="1000" RUNS=5 tests/perf/media_density.sh
#
# Knobs (environment): NS, RUNS, RATE (calls/s), HOLD (s), SIP_PORT, RTP_PORTS,
# KEYS/KEY_AT (one RFC 4733 key per call near the end of the hold), DAEMON (a prebuilt
# daemon binary to measure instead of this tree's), BINS (a directory with prebuilt
# `centralino` and `centralino-load`: nothing is built then), RT_PRIO (run the daemon under
# `chrt -f RT_PRIO`, SCHED_FIFO; needs root), OUT (results directory), TARGET (host:port
# of another SIP server to load instead of starting ours — same calls, same measures;
# its CPU and RSS are then not sampled: give TARGET_PID to sample that process), NUMBER
# (the number dialled; default `test`, our DTMF test line with its long greeting).
set -euo pipefail
cd "$(dirname "$0")/../.."

NS=${NS:-"500 1000 2000 5000"}
RUNS=${RUNS:-3}
RATE=${RATE:-1000}
HOLD=${HOLD:-8}        # < the 9.3 s greeting: every call streams for its whole hold
KEYS=${KEYS:-1}
KEY_AT=${KEY_AT:-7.5}
SIP_PORT=${SIP_PORT:-25060}
RTP_PORTS=${RTP_PORTS:-10000-29999}   # 20,000 ports, below the ephemeral range
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET_DIR/perf/$(date +%Y%m%d-%H%M%S)}

ulimit -n "$(ulimit -Hn)"    # one socket per call on each side
# BINS: a directory with prebuilt `centralino` and `centralino-load` (no build then).
if [ -z "${BINS:-}" ]; then
    cargo build --release --bins --quiet
    BINS=$TARGET_DIR/release
fi
DAEMON=${DAEMON:-$BINS/centralino}
LOAD=$BINS/centralino-load
mkdir -p "$OUT"

PREFIX=()
[ -n "${RT_PRIO:-}" ] && PREFIX=(chrt -f "$RT_PRIO")
if [ -z "${TARGET:-}" ]; then
    TARGET="127.0.0.1:$SIP_PORT"
    "${PREFIX[@]}" "$DAEMON" run --sip-listen "$TARGET" --rtp-ports "$RTP_PORTS" \
        --outbox "$OUT/outbox" >"$OUT/daemon.log" 2>&1 &
    DPID=$!
    trap 'kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
        ss -Hlun "sport = :$SIP_PORT" | grep -q . && break
        sleep 0.1
    done
    kill -0 "$DPID"   # still alive: it started
else
    DAEMON="(another server at $TARGET)"
    DPID=${TARGET_PID:-}
fi
RSS0=0
[ -n "$DPID" ] && RSS0=$(awk '/^VmRSS:/ {print $2}' "/proc/$DPID/status")   # KiB, before any call
PIDARG=()
[ -n "$DPID" ] && PIDARG=(--daemon-pid "$DPID")

echo "daemon ${PREFIX[*]} $DAEMON (pid ${DPID:-n/a}), $(nproc) cores, results in $OUT"
for n in $NS; do
    for r in $(seq "$RUNS"); do
        load=$(cut -d' ' -f1 /proc/loadavg)
        json=$("$LOAD" --target "$TARGET" --number "${NUMBER:-test}" --calls "$n" --rate "$RATE" \
            --hold "$HOLD" --keys "$KEYS" --key-at "$KEY_AT" --drain 15 \
            "${PIDARG[@]}" --json) || true
        echo "{\"n\":$n,\"run\":$r,\"loadavg_before\":$load,\"report\":${json:-null}}" \
            | tee -a "$OUT/results.jsonl" | cut -c1-160
        sleep 3    # let the daemon close the last calls and settle
    done
done

python3 - "$OUT/results.jsonl" "$RSS0" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rss0 = int(sys.argv[2])
by_n = {}
for r in rows:
    by_n.setdefault(r["n"], []).append(r)
def cell(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    m = statistics.median(vals)
    return (fmt % m) + " (" + (fmt % min(vals)) + "–" + (fmt % max(vals)) + ")"
cols = [
    ("answered", lambda r: r["answered"], "%d"),
    ("failed", lambda r: r["failed"], "%d"),
    ("lost", lambda r: r["lost"], "%d"),
    ("gen. dropped", lambda r: r.get("dropped_by_generator"), "%d"),
    ("p50 µs", lambda r: r["deviation_steady"]["p50_us"], "%.0f"),
    ("p99 µs", lambda r: r["deviation_steady"]["p99_us"], "%.0f"),
    ("p99.9 µs", lambda r: r["deviation_steady"]["p999_us"], "%.0f"),
    ("max µs", lambda r: r["deviation_steady"]["max_us"], "%.0f"),
    ("mean Δ ms", lambda r: r["deviation_steady"]["mean_interval_us"] / 1000, "%.2f"),
    ("p99 all µs", lambda r: r["deviation_all"]["p99_us"], "%.0f"),
    ("key p50 ms", lambda r: r.get("keys", {}).get("from_first_event_p50_ms"), "%.1f"),
    ("key p99 ms", lambda r: r.get("keys", {}).get("from_first_event_p99_ms"), "%.1f"),
    ("daemon CPU %", lambda r: r.get("daemon", {}).get("cpu_pct"), "%.0f"),
    ("RSS MiB", lambda r: r.get("daemon", {}).get("rss_kib", 0) / 1024, "%.1f"),
    ("KiB/call", lambda r: (r["daemon"]["rss_kib"] - rss0) / r["daemon"]["calls"]
        if r.get("daemon", {}).get("calls") else None, "%.1f"),
    ("window s", lambda r: r["window_s"], "%.1f"),
]
print()
print("| N | runs | loadavg | " + " | ".join(c[0] for c in cols) + " |")
print("|---" * (len(cols) + 3) + "|")
for n in sorted(by_n):
    ok = [r["report"] for r in by_n[n] if r["report"]]
    vals = [cell([f(r) for r in ok], fmt) for _, f, fmt in cols]
    la = statistics.median(r["loadavg_before"] for r in by_n[n])
    print(f"| {n} | {len(ok)}/{len(by_n[n])} | {la:.1f} | " + " | ".join(vals) + " |")
print("\nmedian (min–max) over runs; deviation = |inter-arrival − 20 ms| within talk spurts,")
print("over the full-concurrency window (all calls up, before the first BYE); mean Δ = mean")
print("interval (20.00 when no frame is skipped); KiB/call = (RSS − RSS at daemon start) / N;")
print(f"daemon RSS at start {rss0} KiB; 1000000 µs = beyond the 1 s histogram range;")
print("loadavg = median 1-min load average before the runs (other work on the machine);")
print("gen. dropped = datagrams the generator's own sockets dropped (it read too slowly):")
print("where not 0, that run's loss and key figures are the generator's, not the daemon's.")
PY
