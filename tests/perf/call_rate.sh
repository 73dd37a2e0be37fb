#!/usr/bin/env bash
# Call set-up rate benchmark (docs/performance.md): builds release, starts the daemon on
# the DTMF test line, and for each rate runs sipp's answer-and-BYE scenario
# (tests/sipp/uac_answer_bye.xml) for DURATION seconds, RUNS times; prints the success
# ratio, the daemon's CPU and RSS per run. sipp and the daemon share this machine.
#
#   tests/perf/call_rate.sh                              # RATES="500 1000 2000 3500 5000"
#   RATES="3500" DURATION=45 RUNS=3 tests/perf/call_rate.sh
#   TARGET=127.0.0.1:5060 tests/perf/call_rate.sh        # another SIP server, same load
#
#   DAEMON=/path/to/other/centralino tests/perf/call_rate.sh   # another build of ours
#
# Knobs: RATES, DURATION (s), RUNS, SIP_PORT, RTP_PORTS, TARGET (skip starting ours),
# SERVICE (the number dialled; default `test`, our DTMF test line), DAEMON (a prebuilt
# daemon binary to measure instead of this tree's), BINS (a directory holding a prebuilt
# `centralino`).
set -euo pipefail
cd "$(dirname "$0")/../.."

RATES=${RATES:-"500 1000 2000 3500 5000"}
DURATION=${DURATION:-10}
RUNS=${RUNS:-1}
SIP_PORT=${SIP_PORT:-25070}
RTP_PORTS=${RTP_PORTS:-10000-29999}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
command -v sipp >/dev/null || { echo "sipp not found: apt-get install sip-tester" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

DPID=""
if [ -z "${TARGET:-}" ]; then
  # BINS: a directory with a prebuilt `centralino` (no build then).
  [ -n "${DAEMON:-}${BINS:-}" ] || cargo build --release --bins --quiet
  DAEMON=${DAEMON:-${BINS:-$TARGET_DIR/release}/centralino}
  TARGET="127.0.0.1:$SIP_PORT"
  echo "daemon $DAEMON, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  "$DAEMON" run --sip-listen "$TARGET" --rtp-ports "$RTP_PORTS" \
      --outbox "${TMPDIR:-/tmp}/call_rate_outbox" >"${TMPDIR:-/tmp}/call_rate_daemon.log" 2>&1 &
  DPID=$!
  trap 'kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true' EXIT
  for _ in $(seq 100); do ss -Hlun "sport = :$SIP_PORT" | grep -q . && break; sleep 0.1; done
fi

SCENARIO="$PWD/tests/sipp/uac_answer_bye.xml"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

ROWS=$(mktemp)
printf '| rate/s | run | calls | achieved/s | failed | of which refused (503) | failed %% | daemon CPU %% | RSS MiB |\n|---|---|---|---|---|---|---|---|---|\n'
for rate in $RATES; do
  for run in $(seq "$RUNS"); do
    calls=$((rate * DURATION))
    work=$(mktemp -d)
    [ -n "$DPID" ] && t0=$(cpu_ticks "$DPID") && w0=$(date +%s.%N)
    (cd "$work" && timeout $((DURATION + 60)) sipp "$TARGET" -sf "$SCENARIO" -s "${SERVICE:-test}" \
        -i 127.0.0.1 -mi 127.0.0.1 -bind_local -r "$rate" -m "$calls" -l $((rate * 2)) \
        -buff_size 4194304 -timeout $((DURATION + 30))s -nostdin -trace_stat -stf stat.csv \
        >/dev/null 2>&1) || true
    cpu="n/a"; rss="n/a"
    if [ -n "$DPID" ]; then
      t1=$(cpu_ticks "$DPID"); w1=$(date +%s.%N)
      cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v w0="$w0" -v w1="$w1" 'BEGIN{printf "%.0f", (b-a)/hz/(w1-w0)*100}')
      rss=$(awk -v k="$(rss_kib "$DPID")" 'BEGIN{printf "%.1f", k/1024}')
    fi
    # sipp's statistics CSV: the last line's cumulative successful and failed calls.
    last=$(tail -n 1 "$work"/*.csv 2>/dev/null || true)
    header=$(head -n 1 "$work"/*.csv 2>/dev/null || true)
    col() { echo "$header" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
    ok=$(echo "$last" | cut -d';' -f"$(col SuccessfulCall\(C\))" 2>/dev/null || echo 0)
    failed=$(echo "$last" | cut -d';' -f"$(col FailedCall\(C\))" 2>/dev/null || echo 0)
    # A final response other than the scenario's 200 (here always a 503): refused, not lost.
    refused=$(echo "$last" | cut -d';' -f"$(col FailedUnexpectedMessage\(C\))" 2>/dev/null || echo 0)
    total=$((ok + failed))
    pct=$(awk -v f="$failed" -v t="$total" 'BEGIN{ if (t>0) printf "%.2f", f*100/t; else print "n/a"}')
    achieved=$(awk -v t="$total" -v d="$DURATION" 'BEGIN{printf "%.0f", t/d}')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$rate" "$run" "$total" "$achieved" "$failed" "$refused" "$pct" "$cpu" "$rss"
    echo "$rate $achieved $pct $cpu $rss" >>"$ROWS"
    rm -rf "$work"
  done
done

# Medians over the runs of each rate, with the spread (min–max).
echo
printf '| rate/s | runs | achieved/s median | failed %% median (min–max) | CPU %% median (min–max) | RSS MiB median (min–max) |\n|---|---|---|---|---|---|\n'
for rate in $RATES; do
  awk -v r="$rate" '$1 == r' "$ROWS" | awk '
    function med(a, n,   i, j, t) {   # sorts a[1..n] in place, returns the median
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { n++; ach[n] = $2; f[n] = $3; c[n] = $4; m[n] = $5 }
    END {
      if (n == 0) exit
      a = med(ach, n); fm = med(f, n); cm = med(c, n); mm = med(m, n)
      printf "| %s | %d | %.0f | %.2f (%.2f–%.2f) | %.0f (%.0f–%.0f) | %.1f (%.1f–%.1f) |\n", $1, n, a, fm, f[1], f[n], cm, c[1], c[n], mm, m[1], m[n]
    }'
done
rm -f "$ROWS"
