#!/usr/bin/env bash
# A monitor over many runs (docs/performance.md): memory and open files
# after run 10 and after run N must stay put, the token is requested once
# per lifetime, and a scrape of /metrics with over 1,000 series is quick.
#
#   benches/monitor.sh                 # release build, 1,000 runs
#   RUNS=200 STEPS=50 benches/monitor.sh
#
# Starts `oauthspec sandbox` and `oauthspec monitor --every 0s` on
# 127.0.0.1 and reads /proc for the monitor's resident memory and file
# descriptors. Linux only.
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-1000}
STEPS=${STEPS:-50}
PORT=${PORT:-18490}
LISTEN=${LISTEN:-18491}
OAUTHSPEC=${OAUTHSPEC:-$ROOT/target/release/oauthspec}
[[ -n ${SKIP_BUILD:-} ]] || (cd "$ROOT" && cargo build --release --quiet --bin oauthspec)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/oauthspec-monitor.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

"$OAUTHSPEC" sandbox --port "$PORT" >"$WORK/sandbox.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/health" && break; sleep 0.05; done

BASE=http://127.0.0.1:$PORT
{
  printf 'suite "bench"\nclient orders {\n  token_url "%s/oauth2/token"\n  client_id "demo-client"\n  client_secret secret("demo-secret")\n}\n' "$BASE"
  for i in $(seq -f %03g 1 "$STEPS"); do
    printf 'step "orders %s" {\n  GET "%s/v1/orders"\n  auth orders\n  expect status == 200\n}\n' "$i" "$BASE"
  done
} >"$WORK/bench.oauthspec"

"$OAUTHSPEC" monitor "$WORK/bench.oauthspec" --every 0s \
  --listen "127.0.0.1:$LISTEN" >"$WORK/monitor.log" 2>&1 &
MON=$!
PIDS+=("$MON")

sample() { # run number -> "rss_kib fds"
  until grep -q " run $1: " "$WORK/monitor.log"; do
    kill -0 "$MON" 2>/dev/null || { cat "$WORK/monitor.log" >&2; exit 1; }
    sleep 0.01
  done
  echo "$(awk '/VmRSS/ {print $2}' "/proc/$MON/status") $(ls "/proc/$MON/fd" | wc -l)"
}
read -r rss10 fd10 < <(sample 10)
read -r rssN fdN < <(sample "$RUNS")
tokens=$(curl -s "$BASE/sandbox/stats" | sed -E 's/.*"token":([0-9]+).*/\1/')
series=$(curl -s "http://127.0.0.1:$LISTEN/metrics" | grep -vc '^#')
scrape_ms=$(for _ in $(seq 20); do
  curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$LISTEN/metrics"
done | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)] * 1000}')

printf 'runs %d of %d steps, every 0s\n' "$RUNS" "$STEPS"
printf '  resident memory  after run 10: %6.1f MiB   after run %d: %6.1f MiB   (+%.2f MiB)\n' \
  "$(echo "$rss10/1024" | bc -l)" "$RUNS" "$(echo "$rssN/1024" | bc -l)" "$(echo "($rssN-$rss10)/1024" | bc -l)"
printf '  open files       after run 10: %d   after run %d: %d\n' "$fd10" "$RUNS" "$fdN"
printf '  token requests   %d (one per token lifetime: 1 expected)\n' "$tokens"
printf '  scrape of %d series: median of 20 %s ms\n' "$series" "$scrape_ms"
