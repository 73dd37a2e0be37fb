#!/usr/bin/env bash
# Queue at scale (docs/performance.md): N callers wait in one queue with announcements
# while M operators (centralino-load's operator farm, registered with digest auth) answer
# them. Builds release; for each run starts a fresh daemon (fresh queue log) with a
# one-node menu into the queue `scala`, runs centralino-load with --operators and
# --queue-log, and prints medians (min–max) over the runs.
#
#   tests/perf/queue_scale.sh                       # N=2000 callers, M=50 operators, 3 runs
#   N=200 M=8 HOLD=20 RUNS=1 tests/perf/queue_scale.sh
#
# Knobs (environment): N, M, RATE (calls/s), HOLD (s a caller waits before giving up),
# TALK (s an operator talks), ANSWER_AFTER (s an operator's phone rings before the answer),
# OPERATOR_EXPIRES (registration interval asked for, s), WRAPUP_MS, RING_TIMEOUT_MS, EVERY_MS, MIN_INTERVAL_MS,
# LIMIT (announce settings), TOLERANCE_MS (lateness allowed to a periodic announcement),
# RUNS, SIP_PORT, RTP_PORTS, MAX_LOAD (rtp.max_load_percent; 0 = no 503 shedding, the
# default here: this scenario measures the queue, not admission control), OUT (results
# directory), DAEMON (a prebuilt daemon binary), BINS (a directory with prebuilt
# `centralino` and `centralino-load`: nothing is built then), TARGET (host:port of a daemon started
# elsewhere with the same queue: then only the callers' side and the operators run here;
# QUEUE_LOG names its queue log and TARGET_PID its process).
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${N:-2000}
M=${M:-50}
RATE=${RATE:-400}     # a 5 s ramp: ~1,900 wait at once
HOLD=${HOLD:-75}      # patience: ~90 % of the callers are served before it, the rest abandon
TALK=${TALK:-2}
ANSWER_AFTER=${ANSWER_AFTER:-0}
OPERATOR_EXPIRES=${OPERATOR_EXPIRES:-600}
WRAPUP_MS=${WRAPUP_MS:-300}
RING_TIMEOUT_MS=${RING_TIMEOUT_MS:-15000}
EVERY_MS=${EVERY_MS:-15000}
MIN_INTERVAL_MS=${MIN_INTERVAL_MS:-5000}
LIMIT=${LIMIT:-20}
TOLERANCE_MS=${TOLERANCE_MS:-1000}
RUNS=${RUNS:-3}
SIP_PORT=${SIP_PORT:-25070}
RTP_PORTS=${RTP_PORTS:-10000-29999}   # 20,000 ports, below the ephemeral range
MAX_LOAD=${MAX_LOAD:-0}
PASSWORD=centralino-load
NUMBER=803164                         # any number: the menu sends every call to the queue
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=$(realpath -m "${OUT:-$TARGET_DIR/perf/queue-$(date +%Y%m%d-%H%M%S)}")

ulimit -n "$(ulimit -Hn)"    # one RTP socket per caller on each side, plus the operators'
# BINS: a directory with prebuilt `centralino` and `centralino-load` (no build then).
if [ -z "${BINS:-}" ]; then
    cargo build --release --bins --quiet
    BINS=$TARGET_DIR/release
fi
DAEMON=${DAEMON:-$BINS/centralino}
LOAD=$BINS/centralino-load
mkdir -p "$OUT"

# The operators file: op1..opM, all in `scala`, logged in by registering.
{
    echo "realm: centralino"
    echo "operators:"
    for i in $(seq "$M"); do
        echo "$PASSWORD" | "$DAEMON" passwd "op$i" --realm centralino \
            | sed -e 's/queues: \[\]/queues: [scala]/' -e 's/auto_login: false/auto_login: true/'
    done
} >"$OUT/operators.yaml"

cat >"$OUT/tree.yaml" <<EOF
name: coda a regime
start: coda
nodes:
  coda:
    queue: {target: scala, fallback: bye}
  bye:
    hangup:
      prompts: [arrivederci]
EOF

# One config per run: each run gets a fresh queue log.
config() {
    cat <<EOF
admin:
  listen: null
ivr:
  tree: '$OUT/tree.yaml'
  watch_ms: 0
rtp:
  max_load_percent: $MAX_LOAD
operators:
  file: '$OUT/operators.yaml'
  algorithms: [MD5]
queues:
  scala:
    ring_timeout_ms: $RING_TIMEOUT_MS
    retry_ms: 1000
    wrapup_ms: $WRAPUP_MS
    max_len: $((N + 100))
    join_when_empty: true
    overflow: {max_len: bye}
    announce: {on_entry: true, on_change: true, every_ms: $EVERY_MS, min_interval_ms: $MIN_INTERVAL_MS, limit: $LIMIT}
queue_log: '$1'
EOF
}

DPID=
stop_daemon() {
    if [ -n "$DPID" ]; then
        kill "$DPID" 2>/dev/null || true
        wait "$DPID" 2>/dev/null || true
        DPID=
    fi
}
trap stop_daemon EXIT

echo "daemon $DAEMON, $(nproc) cores, N=$N M=$M rate=$RATE/s hold=${HOLD}s talk=${TALK}s," \
    "announce every ${EVERY_MS} ms (min ${MIN_INTERVAL_MS}, limit $LIMIT); results in $OUT"
for r in $(seq "$RUNS"); do
    if [ -z "${TARGET:-}" ]; then
        qlog="$OUT/queue-$r.jsonl"
        config "$qlog" >"$OUT/centralino-$r.yaml"
        target="127.0.0.1:$SIP_PORT"
        RUST_LOG=${RUST_LOG:-info} "$DAEMON" run --config "$OUT/centralino-$r.yaml" \
            --sip-listen "$target" --rtp-ports "$RTP_PORTS" --outbox "$OUT/outbox" \
            >"$OUT/daemon-$r.log" 2>&1 &
        DPID=$!
        for _ in $(seq 100); do
            ss -Hlun "sport = :$SIP_PORT" | grep -q . && break
            sleep 0.1
        done
        kill -0 "$DPID"   # still alive: it started
        pid=$DPID
    else
        target=$TARGET
        qlog=${QUEUE_LOG:?QUEUE_LOG: the queue log of the daemon at TARGET}
        pid=${TARGET_PID:-}
    fi
    pidarg=()
    [ -n "$pid" ] && pidarg=(--daemon-pid "$pid")
    load=$(cut -d' ' -f1 /proc/loadavg)
    json=$("$LOAD" --target "$target" --number "$NUMBER" --calls "$N" --rate "$RATE" \
        --hold "$HOLD" --drain 20 --operators "$M" --operator-password "$PASSWORD" \
        --talk "$TALK" --answer-after "$ANSWER_AFTER" --operator-expires "$OPERATOR_EXPIRES" --queue-log "$qlog" --announce-every-ms "$EVERY_MS" \
        --announce-min-interval-ms "$MIN_INTERVAL_MS" --announce-limit "$LIMIT" \
        --announce-tolerance-ms "$TOLERANCE_MS" "${pidarg[@]}" --json) || true
    echo "{\"run\":$r,\"loadavg_before\":$load,\"report\":${json:-null}}" \
        | tee -a "$OUT/results.jsonl" | cut -c1-200
    [ -z "${TARGET:-}" ] && stop_daemon
    sleep 3    # let sockets close before the next daemon binds the same ports
done

python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ok = [r["report"] for r in rows if r["report"]]
def cell(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    m = statistics.median(vals)
    return (fmt % m) + " (" + (fmt % min(vals)) + "–" + (fmt % max(vals)) + ")"
q = lambda r, k: r.get("queue_log", {}).get(k)
cols = [
    ("failed", lambda r: r["failed"], "%d"),
    ("peak waiting", lambda r: q(r, "peak_waiting"), "%d"),
    ("connected", lambda r: q(r, "connected"), "%d"),
    ("abandoned", lambda r: q(r, "abandoned"), "%d"),
    ("overflowed", lambda r: q(r, "overflowed"), "%d"),
    ("farm answered", lambda r: r.get("operators", {}).get("answered"), "%d"),
    ("wait p50 s", lambda r: q(r, "wait_connected_p50_ms") / 1000, "%.1f"),
    ("wait p99 s", lambda r: q(r, "wait_connected_p99_ms") / 1000, "%.1f"),
    ("announced", lambda r: q(r, "announced"), "%d"),
    ("count mismatches", lambda r: q(r, "ahead_mismatches") + q(r, "joined_mismatches"), "%d"),
    ("min-interval violations", lambda r: q(r, "min_interval_violations"), "%d"),
    ("late", lambda r: q(r, "late"), "%d"),
    ("entry p99 ms", lambda r: q(r, "entry_delay_p99_ms"), "%d"),
    ("lateness p99 ms", lambda r: q(r, "lateness_p99_ms"), "%d"),
    ("lateness max ms", lambda r: q(r, "lateness_max_ms"), "%d"),
    ("RTP p99 µs", lambda r: r["deviation_all"]["p99_us"], "%.0f"),
    ("RTP max ms", lambda r: r["deviation_all"]["max_us"] / 1000, "%.0f"),
    ("farm tick late max ms", lambda r: r.get("operators", {}).get("tick_late_max_us", 0) / 1000, "%.0f"),
    ("lost", lambda r: r["lost"], "%d"),
    ("callers without audio", lambda r: r["calls"] - r["streams_with_media"], "%d"),
    ("daemon CPU %", lambda r: r.get("daemon", {}).get("cpu_pct"), "%.0f"),
    ("RSS peak MiB", lambda r: r.get("daemon", {}).get("rss_peak_kib", 0) / 1024, "%.1f"),
]
print()
print("| runs | loadavg | " + " | ".join(c[0] for c in cols) + " |")
print("|---" * (len(cols) + 2) + "|")
la = ", ".join("%.1f" % r["loadavg_before"] for r in rows)
vals = [cell([f(r) for r in ok], fmt) for _, f, fmt in cols]
print(f"| {len(ok)}/{len(rows)} | {la} | " + " | ".join(vals) + " |")
print("\nmedian (min–max) over runs; count mismatches = `announced` + `joined` lines whose")
print("`ahead` differs from the replayed queue; late = periodic announcement more than the")
print("tolerance after every_ms (or none before leaving); RTP p99 = |Δ − 20 ms| over the")
print("whole run on the callers' streams (connected callers hear the operators' frames as")
print("relayed: a late farm tick shows there too); CPU over the whole run; RSS peak = VmHWM.")
PY
