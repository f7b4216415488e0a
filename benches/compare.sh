#!/usr/bin/env bash
# oauthspec against Hurl on the same work, side by side (docs/performance.md).
#
#   benches/compare.sh            # release build, nginx target, 5 rounds
#   RUNS=9 JOBS=2 benches/compare.sh
#   TARGET=sandbox benches/compare.sh   # `oauthspec sandbox` as the target
#
# Starts one fixed local target (nginx from benches/nginx.conf.in, or the
# built-in sandbox), generates the workloads into a temp dir (oauthspec specs
# and the equivalent .hurl files), runs every case once per round, RUNS
# rounds, and prints median and fastest wall time, requests/s, token
# requests, peak RSS and CPU time, start-up times and a verdict per target.
# Hurl runs when `hurl` is on PATH (or HURL=/path/to/hurl); wrk, when on
# PATH, gives the loopback ceiling in requests/s. Everything listens on
# 127.0.0.1 only and every loop is bounded.
#
# Environment:
#   RUNS=5 SEQ_STEPS=1000 PAR_FILES=100 PAR_STEPS=20 CHECK_FILES=1000
#   CHECK_STEPS=100 JOBS=2 PORT=18480 TARGET=nginx|sandbox
#   OAUTHSPEC=target/release/oauthspec  OAUTHSPEC_JOBS=N (its --jobs)
#   SKIP_BUILD=1  KEEP=1 (keep the temp dir)
#   PIN=same|other (the target on core 0, the tools on core 0 or 1)
#
# On a busy machine run it as `nice -n -10 benches/compare.sh` (root): the
# target and both tools inherit the priority, and the noise drops.
set -euo pipefail
export LC_ALL=C # a `.` in EPOCHREALTIME and in awk's numbers
[[ -n ${EPOCHREALTIME:-} ]] || { echo "needs bash 5 (EPOCHREALTIME)" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
SEQ_STEPS=${SEQ_STEPS:-1000}
PAR_FILES=${PAR_FILES:-100}
PAR_STEPS=${PAR_STEPS:-20}
CHECK_FILES=${CHECK_FILES:-1000}
CHECK_STEPS=${CHECK_STEPS:-100}
JOBS=${JOBS:-2}
PORT=${PORT:-18480}
TARGET=${TARGET:-nginx}
OAUTHSPEC=${OAUTHSPEC:-$ROOT/target/release/oauthspec}
HURL=${HURL:-$(command -v hurl || true)}
TIME_BIN=/usr/bin/time
# An empty OAUTHSPEC_JOBS would be an invalid --jobs: unset means "default".
[[ -n ${OAUTHSPEC_JOBS:-} ]] || unset OAUTHSPEC_JOBS

if [[ -z ${SKIP_BUILD:-} ]]; then
  (cd "$ROOT" && cargo build --release --quiet --bin oauthspec)
fi
[[ -x $OAUTHSPEC ]] || { echo "no oauthspec binary at $OAUTHSPEC" >&2; exit 2; }
[[ -x $TIME_BIN ]] || { echo "note: $TIME_BIN missing (apt-get install time): no peak memory" >&2; TIME_BIN=; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/oauthspec-bench.XXXXXX")
TARGET_PID=
cleanup() {
  if [[ -n $TARGET_PID ]]; then kill "$TARGET_PID" 2>/dev/null || true; fi
  if [[ -f $WORK/nginx/nginx.pid ]]; then kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true; fi
  if [[ -z ${KEEP:-} ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

BASE=http://127.0.0.1:$PORT

# ---------------------------------------------------------------- target
wait_for_port() {
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "$BASE/"; then return 0; fi
    sleep 0.05
  done
  echo "the target did not come up on $BASE" >&2
  return 1
}

case $TARGET in
  nginx)
    command -v nginx >/dev/null || { echo "nginx not found (apt-get install nginx)" >&2; exit 2; }
    mkdir -p "$WORK/nginx/tmp"
    sed -e "s#@PREFIX@#$WORK/nginx#g" -e "s#@PORT@#$PORT#g" -e "s#@USER@#$(id -un)#g" \
      "$ROOT/benches/nginx.conf.in" >"$WORK/nginx/nginx.conf"
    if curl -s -o /dev/null "$BASE/"; then echo "port $PORT is taken: set PORT" >&2; exit 2; fi
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" 2>/dev/null || {
      echo "nginx did not start:" >&2; cat "$WORK/nginx/error.log" >&2; exit 2; }
    CLIENT_ID=bench-client CLIENT_SECRET=bench-secret SCOPE=orders:read
    token_reset() { : >"$WORK/nginx/token.log"; }
    token_count() { wc -l <"$WORK/nginx/token.log" | tr -d ' '; }
    ;;
  sandbox)
    "$OAUTHSPEC" sandbox --port "$PORT" >"$WORK/sandbox.log" 2>&1 &
    TARGET_PID=$!
    CLIENT_ID=demo-client CLIENT_SECRET=demo-secret SCOPE=orders:read
    token_reset() { curl -s -o /dev/null -X POST "$BASE/sandbox/stats/reset"; }
    token_count() { curl -s "$BASE/sandbox/stats" | sed -E 's/.*"token":([0-9]+).*/\1/'; }
    ;;
  *) echo "TARGET is nginx or sandbox" >&2; exit 2 ;;
esac
wait_for_port

# PIN=same|other: the target's processes on core 0, both tools on core 0
# too (same) or on core 1 (other). Unpinned, the scheduler places each run
# as it likes; on a VM a request that must wake the other core costs tens
# of microseconds more, so the placement can decide a sequential ratio.
PIN_CMD=()
if [[ -n ${PIN:-} ]]; then
  command -v taskset >/dev/null || { echo "PIN needs taskset (util-linux)" >&2; exit 2; }
  (($(nproc) > 1)) || { echo "PIN needs two cores" >&2; exit 2; }
  case $PIN in
    same) PIN_CMD=(taskset -c 0) ;;
    other) PIN_CMD=(taskset -c 1) ;;
    *) echo "PIN is same or other" >&2; exit 2 ;;
  esac
  if [[ $TARGET == nginx ]]; then
    target_pids=$(cat "$WORK/nginx/nginx.pid"; pgrep -P "$(cat "$WORK/nginx/nginx.pid")")
  else
    target_pids=$TARGET_PID
  fi
  for pid in $target_pids; do taskset -apc 0 "$pid" >/dev/null; done
fi

# ------------------------------------------------------------- workloads
# oauthspec: a managed client (one token per run) and N protected GETs.
spec_header() { # suite
  cat <<EOF
suite "$1"

vars {
  api = "$BASE"
}

client bench {
  token_url     "{{api}}/oauth2/token"
  client_id     "$CLIENT_ID"
  client_secret secret("$CLIENT_SECRET")
  scope         "$SCOPE"
}
EOF
}
spec_steps() { # count, extra expectation line (may be empty)
  awk -v n="$1" -v extra="$2" 'BEGIN {
    for (i = 1; i <= n; i++) {
      printf "\nstep \"orders %05d\" {\n  GET \"{{api}}/v1/orders\"\n  auth bench\n", i
      printf "  expect status == 200\n  expect body contains \"ord_1001\"\n  expect latency < 1s\n"
      if (extra != "") printf "  %s\n", extra
      printf "}\n"
    }
  }'
}
# Hurl: the same token request (Basic auth, form), captured, then N GETs
# with the same three checks (status, body substring, duration).
hurl_file() { # count
  cat <<EOF
POST $BASE/oauth2/token
[BasicAuth]
$CLIENT_ID: $CLIENT_SECRET
[FormParams]
grant_type: client_credentials
scope: $SCOPE
HTTP 200
[Captures]
token: jsonpath "\$.access_token"
EOF
  awk -v n="$1" -v base="$BASE" 'BEGIN {
    for (i = 1; i <= n; i++) {
      printf "\nGET %s/v1/orders\nAuthorization: Bearer {{token}}\nHTTP 200\n[Asserts]\n", base
      printf "body contains \"ord_1001\"\nduration < 1000\n"
    }
  }'
}

mkdir -p "$WORK/seq" "$WORK/par" "$WORK/check" "$WORK/hseq" "$WORK/hpar" "$WORK/one"
{ spec_header chain; spec_steps "$SEQ_STEPS" ""; } >"$WORK/seq/chain.oauthspec"
hurl_file "$SEQ_STEPS" >"$WORK/hseq/chain.hurl"
for i in $(seq -f %03g 1 "$PAR_FILES"); do
  { spec_header "par $i"; spec_steps "$PAR_STEPS" ""; } >"$WORK/par/p$i.oauthspec"
  hurl_file "$PAR_STEPS" >"$WORK/hpar/p$i.hurl"
done
# check: CHECK_FILES files of CHECK_STEPS steps, each with a JSONPath too.
{ spec_header "check"; spec_steps "$CHECK_STEPS" 'expect json "$.orders[0].id" == "ord_1001"'; } \
  >"$WORK/check-template.oauthspec"
for i in $(seq -f %04g 1 "$CHECK_FILES"); do
  cp "$WORK/check-template.oauthspec" "$WORK/check/c$i.oauthspec"
done
{ spec_header one; spec_steps 1 ""; } >"$WORK/one/one.oauthspec"

# ------------------------------------------------------------- measuring
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'; }
minimum() { sort -g | awk 'NR == 1 { print $1 } END { if (NR == 0) print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && a != "" && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

# Each case is a name and a command; RUNS rounds run every case once, in
# turn, so background load falls on all tools alike. Per case and round:
# wall (s, from date), peak RSS (KiB, %M of GNU time), CPU time (user +
# system, s: steadier than wall on a busy machine) and token requests
# (counted by the target).
declare -A CMD WALLS RSSES TOKENS CPUS
CASES=()
add_case() { # name command... (PIN applies to the cases that talk to the target)
  local name=$1 pin=("${PIN_CMD[@]}"); shift
  [[ $name == check ]] && pin=()
  CASES+=("$name")
  CMD[$name]=$(printf '%q ' "${pin[@]}" "$@")
}

# oauthspec runs with its own default --jobs (set OAUTHSPEC_JOBS to change it).
add_case seq_o "$OAUTHSPEC" run --color never "$WORK/seq"
add_case par_o "$OAUTHSPEC" run --color never "$WORK/par"
if [[ -n $HURL ]]; then
  add_case seq_h "$HURL" --test --no-color "$WORK/hseq/chain.hurl"
  add_case par_h "$HURL" --test --no-color --jobs "$JOBS" "$WORK"/hpar/*.hurl
fi
add_case check "$OAUTHSPEC" check "$WORK/check"

run_case() { # name → appends to WALLS, RSSES, TOKENS; fails loudly
  local name=$1 start end
  token_reset
  # Bash's own clock, read right around the command: a `date` process, or
  # reading GNU time's output, inside the interval would add milliseconds
  # to both tools alike and pull every ratio towards 1.
  start=$EPOCHREALTIME
  if [[ -n $TIME_BIN ]]; then
    eval "$TIME_BIN -f '%M %U %S' -o $WORK/time.out ${CMD[$name]}" >"$WORK/out.log" 2>&1 || {
      echo "FAILED: ${CMD[$name]}" >&2; tail -n 20 "$WORK/out.log" >&2; exit 1; }
    end=$EPOCHREALTIME
    RSSES[$name]+="$(tail -n 1 "$WORK/time.out" | awk '{ print $1 }') "
    CPUS[$name]+="$(tail -n 1 "$WORK/time.out" | awk '{ printf "%.2f", $2 + $3 }') "
  else
    eval "${CMD[$name]}" >"$WORK/out.log" 2>&1 || {
      echo "FAILED: ${CMD[$name]}" >&2; tail -n 20 "$WORK/out.log" >&2; exit 1; }
    end=$EPOCHREALTIME
  fi
  WALLS[$name]+="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }') "
  TOKENS[$name]+="$(token_count) "
}

echo "oauthspec $("$OAUTHSPEC" --version | awk '{ print $2 }') vs $(if [[ -n $HURL ]]; then "$HURL" --version | head -n 1 | awk '{ print $1, $2 }'; else echo "no hurl on PATH"; fi); target: $TARGET on $BASE"
echo "runs: $RUNS (median shown, shuffled order), hurl --jobs $JOBS, oauthspec --jobs ${OAUTHSPEC_JOBS:-default}, cores: $(nproc)${PIN:+, PIN=$PIN}, $(date -u +%Y-%m-%dT%H:%MZ)"
echo

# One warm-up round, not counted (page cache, nginx worker, binaries).
for name in "${CASES[@]}"; do run_case "$name"; done
WALLS=() RSSES=() TOKENS=() CPUS=()
# Every round runs the cases in another order (seeded by the round, so
# reruns repeat it): a case that always ran right after the CPU-heavy check
# would always find the cores awake, and on a VM waking an idle core costs
# tens of microseconds per loopback request.
for ((round = 1; round <= RUNS; round++)); do
  mapfile -t order < <(printf '%s\n' "${CASES[@]}" | shuf --random-source=<(yes "$round"))
  for name in "${order[@]}"; do run_case "$name"; done
done

med() { tr ' ' '\n' <<<"$1" | { grep . || true; } | median; }
declare -A W R MIN
CHECK_TOTAL=$((CHECK_FILES * CHECK_STEPS))
printf '%-10s %-24s %8s %7s %9s %7s %9s %6s   %s\n' workload tool "wall s" "min s" "req/s" tokens "peak MiB" "cpu s" "all runs, wall (s)"
for name in "${CASES[@]}"; do
  W[$name]=$(med "${WALLS[$name]}")
  MIN[$name]=$(tr ' ' '\n' <<<"${WALLS[$name]}" | { grep . || true; } | minimum)
  R[$name]=$(med "${RSSES[$name]:-}" | awk '$1 != "-" { printf "%.1f", $1 / 1024; next } { print }')
  tokens=$(med "${TOKENS[$name]}")
  case $name in
    seq_*) workload=sequential; requests=$((SEQ_STEPS + tokens)) ;;
    par_*) workload=parallel; requests=$((PAR_FILES * PAR_STEPS + tokens)) ;;
    check) workload=check; requests=$CHECK_TOTAL; tokens=- ;;
  esac
  case $name in
    *_o) tool=oauthspec ;;
    seq_h) tool="hurl --test" ;;
    par_h) tool="hurl --test --jobs $JOBS" ;;
    check) tool="oauthspec check" ;;
  esac
  rps=$(awk -v r="$requests" -v w="${W[$name]}" 'BEGIN { if (w > 0) printf "%.0f", r / w; else print "-" }')
  [[ $name == check ]] && rps="${rps} st/s"
  printf '%-10s %-24s %8s %7s %9s %7s %9s %6s   %s\n' "$workload" "$tool" "${W[$name]}" "${MIN[$name]}" "$rps" "$tokens" "${R[$name]}" \
    "$(med "${CPUS[$name]:-}")" "${WALLS[$name]}"
done
echo

# ---------------------------------------------------------------- start-up
echo "start-up (mean of many runs):"
STARTUP=("$OAUTHSPEC --version" "$OAUTHSPEC check $WORK/one/one.oauthspec")
[[ -n $HURL ]] && STARTUP+=("$HURL --version")
STARTUP_MS=()
for cmd in "${STARTUP[@]}"; do
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 20 --runs "${STARTUP_RUNS:-300}" --style none \
      --export-json "$WORK/startup.json" "$cmd" >/dev/null 2>&1
    ms=$(jq -r '.results[0] | "\(.mean * 1000) \(.stddev * 1000)"' "$WORK/startup.json" |
      awk '{ printf "%.2f ± %.2f", $1, $2 }')
  else
    start=$(date +%s%N)
    for _ in $(seq 1 200); do $cmd >/dev/null 2>&1; done
    end=$(date +%s%N)
    ms=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 2e8 }')
  fi
  STARTUP_MS+=("${ms%% *}")
  printf '  %16s ms  %s\n' "$ms" "$cmd"
done
STARTUP_RATIO=()
if [[ -n $HURL ]]; then
  STARTUP_RATIO=("$(ratio "${STARTUP_MS[0]}" "${STARTUP_MS[2]}")" "$(ratio "${STARTUP_MS[1]}" "${STARTUP_MS[2]}")")
fi
echo

# ----------------------------------------------------------------- ceiling
if command -v wrk >/dev/null; then
  echo "loopback ceiling (wrk, 3 s each, GET /v1/orders with a bearer token):"
  for c in 1 "$JOBS"; do
    rps=$(wrk -t 1 -c "$c" -d 3s -H "Authorization: Bearer x.y.z" "$BASE/v1/orders" 2>/dev/null |
      awk '/Requests\/sec/ { print $2 }')
    printf '  %s connection(s): %s req/s\n' "$c" "$rps"
  done
  echo
fi

# ------------------------------------------------------------------ targets
verdict() { # name value op limit
  awk -v n="$1" -v v="$2" -v op="$3" -v l="$4" 'BEGIN {
    if (v == "-" || v == "") { printf "  %-52s %s\n", n, "n/a"; exit }
    ok = (op == "<=") ? (v <= l) : (v < l)
    printf "  %-52s %-8s %s %-4s %s\n", n, v, op, l, ok ? "OK" : "MISSED"
  }'
}
echo "targets:"
if [[ -n $HURL ]]; then
  verdict "sequential wall / hurl (medians)" "$(ratio "${W[seq_o]}" "${W[seq_h]}")" "<=" 0.5
  verdict "  the same, fastest runs" "$(ratio "${MIN[seq_o]}" "${MIN[seq_h]}")" "<=" 0.5
  verdict "parallel wall / hurl --jobs $JOBS (medians)" "$(ratio "${W[par_o]}" "${W[par_h]}")" "<=" 0.5
  verdict "  the same, fastest runs" "$(ratio "${MIN[par_o]}" "${MIN[par_h]}")" "<=" 0.5
  verdict "sequential peak memory / hurl" "$(ratio "${R[seq_o]}" "${R[seq_h]}")" "<=" 1
  verdict "parallel peak memory / hurl" "$(ratio "${R[par_o]}" "${R[par_h]}")" "<=" 1
else
  echo "  (no hurl: ratios against Hurl not measured)"
fi
verdict "token requests, parallel run (oauthspec)" "$(med "${TOKENS[par_o]}")" "<=" 1
verdict "check of $CHECK_FILES files / $CHECK_TOTAL steps (s)" "${W[check]}" "<" 1
verdict "start-up: oauthspec --version / hurl --version" "${STARTUP_RATIO[0]:-}" "<=" 1
verdict "start-up: oauthspec check (1 step) / hurl --version" "${STARTUP_RATIO[1]:-}" "<=" 1
