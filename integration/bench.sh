#!/usr/bin/env bash
# Benchmarks of issue 7 on the real test bed; writes BENCHMARKS.md.
#
#   bench.sh full  PATH-TO-OVNFWD    10,000 forwards x 2 ports, and the cost curve
#                                     at 1k/10k/50k (make bench, ≈ 35 min)
#   bench.sh quick PATH-TO-OVNFWD     1,000 forwards (make bench-quick, < 3 min);
#                                     writes integration/.testbed/BENCHMARKS-quick.md
#
# Every measurement runs with the bed's exclusive lock (TB_LOCK of its env
# file, /run/lock/ovnfwd-testbed.lock: the machine-wide lock the
# integration tests and testbed.sh up/down take) held for the whole run, and
# the bed is left as it was found: every forward and Load_Balancer row the
# benchmark created is deleted and every chassis it killed is restarted, even
# when a step fails. It only uses listen addresses in 198.18.0.0/16.
#
#   1 cold check       seed N forwards with `lxd sql global`, `ovnfwd repair`, then
#                      `ovnfwd check` vs the floors (LXD listing, NB read) and a
#                      baseline script (integration/benchtool/baseline.sh)
#   2 cold repair      N forwards, no rows in NB: `ovnfwd repair --yes` until verified;
#                      and its floor: the same rows written in batches by benchtool
#   3 event→verified   creates/updates/deletes through the LXD API under `ovnfwd run`
#   4 drift repair     random NB edits behind ovnfwd's back, edit → repaired
#   5 failover         kills of the active gateway chassis, claim → re-verified
#   6 memory           steady RSS of `ovnfwd run` (1,000 and, in full mode, 10,000)
#   7 Go benchmarks    go test -bench . -benchmem ./sync/
#   8 cost curve       check, cold repair and run (time to all ok, RSS) at 1k, 10k
#                      and 50k forwards (quick: 1k, 3k), next to LXD's listing and
#                      the NB read (libovsdb and a raw JSON-RPC reader)
#
# Knobs (environment): BENCH_RUNS (5), BENCH_REPAIR_RUNS (BENCH_RUNS),
# BENCH_FORWARDS, BENCH_EVENTS, BENCH_DRIFT, BENCH_KILLS, BENCH_SAMPLE (baseline
# sample), BENCH_REPAIR_BUDGET / BENCH_EVENTS_BUDGET / BENCH_DRIFT_BUDGET (s),
# BENCH_ONLY (space-separated phases, e.g. "m1 m2"), BENCH_CURVE (sizes of
# phase 8), BENCH_CURVE_RUNS (5; quick 2), BENCH_LOCK_TIMEOUT (s,
# default 1800), BENCH_KEEP=1 (keep the work directory with the raw results).
# The whole script is one brace group, parsed before it runs: editing this
# file while a benchmark runs cannot change the running one.
{
set -euo pipefail

MODE=${1:-}
BIN=${2:-}
case $MODE in quick | full) ;; *) sed -n '2,29p' "$0"; exit 2 ;; esac
[ -x "$BIN" ] || { echo "bench.sh: ovnfwd binary '$BIN' not found" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
ENVFILE=$HERE/.testbed/env
[ -f "$ENVFILE" ] || { echo "bench.sh: no test bed ($ENVFILE); run make testbed-single-up" >&2; exit 2; }
LOCK=${OVNFWD_TESTBED_LOCK:-$(sed -n 's/^TB_LOCK=//p' "$ENVFILE")}
LOCK=${LOCK:-/run/lock/ovnfwd-testbed.lock}

# Take the bed's lock for the whole run. flock -o: the lock is held by the
# flock process only, so that nothing this script starts (a restarted
# chassis, the daemon) can inherit it and keep it after the run.
if [ -z "${BENCH_LOCKED:-}" ]; then
	touch "$LOCK"
	timeout=${BENCH_LOCK_TIMEOUT:-1800}
	echo "[bench] waiting for the test bed lock $LOCK (up to ${timeout}s)" >&2
	set +e
	BENCH_LOCKED=1 flock -o -w "$timeout" "$LOCK" bash "$0" "$MODE" "$BIN"
	rc=$?
	set -e
	if [ $rc -eq 1 ] && ! flock -n -o "$LOCK" true 2>/dev/null; then
		echo "[bench] could not take the bed lock within ${timeout}s; it is held by:" >&2
		ino=$(stat -c %i "$LOCK")
		for p in /proc/[0-9]*; do
			ls -l "$p/fd" 2>/dev/null | grep -q "$LOCK" && echo "  pid ${p#/proc/}: $(tr '\0' ' ' <"$p/cmdline" | cut -c1-120)" >&2
		done
		grep ":$ino " /proc/locks | head -3 >&2 || true
		echo "[bench] (a daemon that inherited the lock descriptor keeps it until it exits)" >&2
	fi
	exit $rc
fi

set -a
# shellcheck disable=SC1090
. "$ENVFILE"
set +a
export LXD_DIR OVNFWD_LXD OVNFWD_NB OVNFWD_SB TB_SCRIPT

RUNS=${BENCH_RUNS:-5}
REPAIR_RUNS=${BENCH_REPAIR_RUNS:-$RUNS}
# Time budgets (s) keep a run inside its target (full < 20 min, quick < 3 min)
# however slow ovnfwd is today: a phase starts no new run, event or edit once
# its budget is used and a minimum is done; the report says how many ran.
if [ "$MODE" = full ]; then
	N=${BENCH_FORWARDS:-10000}; EVENTS=${BENCH_EVENTS:-500}; DRIFT=${BENCH_DRIFT:-500}
	KILLS=${BENCH_KILLS:-10}; SAMPLE=${BENCH_SAMPLE:-10}
	REPAIR_BUDGET=${BENCH_REPAIR_BUDGET:-360}; EVENTS_BUDGET=${BENCH_EVENTS_BUDGET:-100}; DRIFT_BUDGET=${BENCH_DRIFT_BUDGET:-100}
	OUT=$ROOT/BENCHMARKS.md
	CURVE=${BENCH_CURVE:-1000 10000 50000}
	# Issue 14 asks for min / median / max over at least 5 runs of every
	# goal: the repair floors and every curve measure run 5 times, whatever
	# the budgets.
	MIN_RUNS=5; CURVE_RUNS=${BENCH_CURVE_RUNS:-5}
else
	N=${BENCH_FORWARDS:-1000}; EVENTS=${BENCH_EVENTS:-40}; DRIFT=${BENCH_DRIFT:-40}
	KILLS=${BENCH_KILLS:-2}; SAMPLE=${BENCH_SAMPLE:-10}
	REPAIR_BUDGET=${BENCH_REPAIR_BUDGET:-60}; EVENTS_BUDGET=${BENCH_EVENTS_BUDGET:-20}; DRIFT_BUDGET=${BENCH_DRIFT_BUDGET:-20}
	OUT=$HERE/.testbed/BENCHMARKS-quick.md
	CURVE=${BENCH_CURVE:-1000 3000}
	MIN_RUNS=3; CURVE_RUNS=${BENCH_CURVE_RUNS:-2}
fi
# MIN_RUNS: repair runs and floor pairs, whatever the budget.
MIN_OPS=20  # events and drift edits, whatever the budget
ONLY=${BENCH_ONLY:-m2 m1 m6 m3 m4 m5 m8 m7}
# A timed repair runs to verified: its --settle (default 10 s) would end it
# with every forward pending while the chassis still absorb the rows (about
# 20 s at 10,000 forwards, minutes at 50,000).
REPAIR_SETTLE=${BENCH_REPAIR_SETTLE:-600s}
WORK=$(mktemp -d /tmp/ovnfwd-bench.XXXXXX)
R=$WORK/results
mkdir -p "$R"
T0=$SECONDS
PORT=$((19400 + RANDOM % 500))
METRICS=http://127.0.0.1:$PORT
# Phases run in subshells: what must survive one (the daemon, perf, uprobes)
# is kept in files.
DAEMON_PIDFILE=$WORK/daemon.pid
PERF_PIDFILE=$WORK/perf.pid
PROBES_FILE=$WORK/probes
TRACEFS_FLAG=$WORK/mounted-tracefs
FAILED=""
daemon_pid() { cat "$DAEMON_PIDFILE" 2>/dev/null || true; }

log() { printf '[bench %4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() { log "error: $*"; exit 1; }
now_ns() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", (b - a) / 1e9 }'; }
nbctl() { ovn-nbctl --db="$OVNFWD_NB" --timeout=300 "$@"; }
lxdsql() { lxd sql global "$1"; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

NETWORK=$TB_NETWORK
NETID=$(lxdsql "SELECT id FROM networks WHERE name='$NETWORK' AND project_id=1" | grep -Eo '[0-9]+' | head -n1)
[ -n "$NETID" ] || die "no LXD network $NETWORK"
PREFIX=lxd-net$NETID
MATCH="$PREFIX-lb-198.18."
CH_ALIVE_AT_START=""
for n in 1 2 3; do
	if pid_alive "$TB_STATE/ch$n/ovs-vswitchd.pid" && pid_alive "$TB_STATE/ch$n/ovn-controller.pid"; then
		CH_ALIVE_AT_START="$CH_ALIVE_AT_START $n"
	fi
done

# --- leaving the bed as it was ------------------------------------------------
# Rows that are not the benchmark's: compared at the end.
foreign_rows() {
	nbctl --format=csv --no-headings --columns=name,vips,protocol list Load_Balancer |
		grep -v "^\"\?$MATCH" | sort || true
}

stop_pid() { # pidfile signal
	local p; p=$(cat "$1" 2>/dev/null) || return 0
	if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
		kill -"$2" "$p" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	fi
	rm -f "$1"
}
stop_daemon() { stop_pid "$DAEMON_PIDFILE" TERM; }
stop_perf() { stop_pid "$PERF_PIDFILE" INT; }
remove_probes() {
	local p
	for p in $(cat "$PROBES_FILE" 2>/dev/null); do perf probe -q -d "$p" 2>/dev/null || true; done
	rm -f "$PROBES_FILE"
}

clear_bench_state() {
	lxdsql "DELETE FROM networks_forwards WHERE network_id=$NETID AND listen_address LIKE '198.18.%'" >/dev/null
	"$BT" nb-clear -match "$MATCH" >/dev/null
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	log "cleanup"
	stop_perf
	stop_daemon
	remove_probes
	[ -f "$TRACEFS_FLAG" ] && umount /sys/kernel/tracing 2>/dev/null
	for n in $CH_ALIVE_AT_START $(cat "$WORK/killed" 2>/dev/null); do
		if ! pid_alive "$TB_STATE/ch$n/ovs-vswitchd.pid" || ! pid_alive "$TB_STATE/ch$n/ovn-controller.pid"; then
			log "restarting chassis $n"
			bash "$TB_SCRIPT" chassis-start "$n" >/dev/null 2>&1
		fi
	done
	if [ -n "${BT:-}" ] && [ -x "$BT" ]; then
		clear_bench_state
		nbctl --wait=sb sync >/dev/null 2>&1
		left_db=$(lxdsql "SELECT count(*) FROM networks_forwards WHERE listen_address LIKE '198.18.%'" | grep -Eo '[0-9]+' | head -n1)
		left_nb=$(nbctl --bare --columns=name find Load_Balancer | grep -c "^$MATCH")
		[ "${left_db:-0}" = 0 ] && [ "$left_nb" = 0 ] || log "WARNING: left behind: $left_db LXD forwards, $left_nb NB rows"
		if [ -f "$WORK/foreign-before" ]; then
			foreign_rows >"$WORK/foreign-after" 2>/dev/null
			if ! cmp -s "$WORK/foreign-before" "$WORK/foreign-after"; then
				log "WARNING: rows that are not the benchmark's changed during the run (ovnfwd repaired them, or another writer):"
				diff "$WORK/foreign-before" "$WORK/foreign-after" | head -20 >&2
			fi
		fi
	fi
	if [ "${BENCH_KEEP:-}" = 1 ] || [ $rc -ne 0 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	log "done in $((SECONDS - T0))s (exit $rc)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ------------------------------------------------------------------
seed() { # count [offset]
	local n=$1 off=${2:-0}
	lxdsql "WITH RECURSIVE seq(i) AS (SELECT $off UNION ALL SELECT i+1 FROM seq WHERE i < $((off + n - 1)))
INSERT INTO networks_forwards (network_id, node_id, listen_address, description, ports)
SELECT $NETID, NULL, '198.18.' || (i/250) || '.' || (i%250+1), 'ovnfwd-bench',
 '[{\"description\":\"\",\"protocol\":\"tcp\",\"listen_port\":\"80\",\"target_port\":\"8080\",\"target_address\":\"10.10.10.' || (i%250+2) || '\"},' ||
 '{\"description\":\"\",\"protocol\":\"udp\",\"listen_port\":\"53\",\"target_port\":\"\",\"target_address\":\"10.10.10.' || (i%250+2) || '\"}]'
FROM seq" >/dev/null
}

# Wait until northd and every live chassis processed everything in NB.
settle() {
	local t; t=$(now_ns)
	nbctl --wait=hv sync >/dev/null 2>&1 || nbctl --wait=sb sync >/dev/null
	log "  settled (northd + chassis) in $(secs "$t" "$(now_ns)")s"
}

# CPU seconds (user+sys) of the bed's daemons and ovnfwd, as JSON.
CLK_TCK=$(getconf CLK_TCK)
cpu_snapshot() {
	local f p out="{"
	for f in central/nb central/sb central/northd ch1/ovn-controller ch2/ovn-controller ch3/ovn-controller \
		ch1/ovs-vswitchd ch2/ovs-vswitchd ch3/ovs-vswitchd lxd/lxd; do
		p=$(cat "$TB_STATE/$f.pid" 2>/dev/null) || continue
		[ -r "/proc/$p/stat" ] || continue
		out="$out\"$(echo "$f" | tr / -)\":$(awk -v t="$CLK_TCK" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$p/stat"),"
	done
	p=$(daemon_pid)
	if [ -n "$p" ] && [ -r "/proc/$p/stat" ]; then
		out="$out\"ovnfwd-run\":$(awk -v t="$CLK_TCK" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$p/stat"),"
	fi
	echo "${out%,}}"
}
cpu_delta() { # before-json after-json wall-seconds → JSON
	jq -n --argjson a "$1" --argjson b "$2" --argjson w "$3" \
		'{wall_s: $w, cpu_s: ($b | with_entries(.value -= ($a[.key] // 0)) | with_entries(select(.value > 0)))}'
}

# Run a command, timed (ns clock) and with its peak RSS and CPU time
# (/usr/bin/time -v). Sets T_S, RSS_KB, CPU_S, RC.
timed() {
	local t e
	t=$(now_ns)
	set +e
	/usr/bin/time -v -o "$WORK/time.txt" "$@"
	RC=$?
	set -e
	e=$(now_ns)
	T_S=$(secs "$t" "$e")
	RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt")
	CPU_S=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$WORK/time.txt")
}

pprof_top() { # profile binary out [pprof options]
	local prof=$1 bin=$2 out=$3; shift 3
	go tool pprof -top -nodecount=30 "$@" "$bin" "$prof" >"$out" 2>/dev/null || true
}

start_daemon() { # log file [env assignments]
	local logf=$1; shift
	env "$@" "$BIN" --log-format json run --metrics-address "127.0.0.1:$PORT" --pprof >/dev/null 2>"$logf" &
	echo $! >"$DAEMON_PIDFILE"
	local i
	for i in $(seq 1200); do
		curl -sf "$METRICS/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$(daemon_pid)" 2>/dev/null || die "ovnfwd run exited (see $logf)"
		sleep 0.1
	done
	die "ovnfwd run not ready after 120s"
}

metric() { curl -sf "$METRICS/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

# Wait until the daemon reports at least n forwards ok (at most s seconds,
# default 180).
wait_ok() {
	local n=$1 s=${2:-180} i ok
	for i in $(seq $((s * 10))); do
		ok=$(metric 'ovnfwd_forwards{state="ok"}')
		[ "${ok%.*}" -ge "$n" ] 2>/dev/null && return 0
		sleep 0.1
	done
	die "daemon: only ${ok:-0} of $n forwards ok after ${s}s"
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }

# Other ovnfwd daemons (a demo, a test that does not take the lock) would
# write the same rows: note them.
others() {
	local p mine
	mine=$(daemon_pid)
	for p in $(pgrep -f 'ovnfwd.* run' 2>/dev/null); do
		[ "$p" = "$mine" ] && continue
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = bash ] && continue
		echo "$1: another ovnfwd daemon is running: pid $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80))"
	done
}

phase() { # name function
	local name=$1; shift
	case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
	log "== $name"
	others "before $name" | tee -a "$R/interference.txt" >&2
	local t=$SECONDS rc
	set +e
	(
		set -e
		"$@"
	)
	rc=$?
	set -e
	if [ $rc -ne 0 ]; then
		log "phase $name FAILED (exit $rc)"
		FAILED="$FAILED $name"
		echo "{\"phase\":\"$name\",\"error\":\"exit $rc; see the bench log\"}" >"$R/$name.error.json"
		stop_perf
		remove_probes
		stop_daemon
	fi
	echo "{\"phase\":\"$name\",\"seconds\":$((SECONDS - t))}" >>"$R/phases.jsonl"
}

# --- build ----------------------------------------------------------------------
log "mode $MODE: $N forwards x 2 ports, $RUNS runs; work dir $WORK"
BT=$WORK/benchtool
(cd "$ROOT" && go build -tags bench -o "$BT" ./integration/benchtool) || die "build benchtool"
# A profiling build of the same sources (cmd/ovnfwd/benchprof.go writes
# CPU/heap profiles when OVNFWD_CPUPROFILE / OVNFWD_MEMPROFILE are set).
PROF=$WORK/prof
mkdir -p "$PROF"
if (cd "$ROOT" && go build -trimpath -tags benchprof -o "$PROF/ovnfwd" ./cmd/ovnfwd) 2>"$WORK/prof-build.err"; then
	touch "$PROF/built"
else
	log "note: the profiling build failed ($(head -n1 "$WORK/prof-build.err")); check and repair are not profiled"
	printf '#!/bin/sh\nexec "%s" "$@"\n' "$BIN" >"$PROF/ovnfwd"
	chmod +x "$PROF/ovnfwd"
fi

# --- the bed, before ------------------------------------------------------------
clear_bench_state # a previous run killed half-way
foreign_rows >"$WORK/foreign-before"
nforeign=$(lxdsql "SELECT count(*) FROM networks_forwards" | grep -Eo '[0-9]+' | head -n1)
log "bed: network $NETWORK ($PREFIX), $nforeign other forwards, chassis alive:$CH_ALIVE_AT_START"
"$BIN" check --format json >"$WORK/check-before.json" 2>/dev/null || log "note: the bed's own forwards have findings before the run (ovnfwd will repair them)"

# flag_default NAME: the default of `ovnfwd run --NAME`, from its help text
# (which wraps a flag's usage over several lines, and may name other flags).
flag_default() {
	"$BIN" run --help 2>/dev/null | perl -0777 -ne 'print $1 if /^\s*--\Q'"$1"'\E value\b(?:(?!\n\s*--\S+ value).)*?\(default:\s*([^)]*?)\)/ms'
}

meta() {
	local cpu mem
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	jq -n --arg mode "$MODE" --argjson n "$N" --argjson runs "$RUNS" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--arg host "$(hostname)" --arg cpu "$cpu" --argjson cores "$(nproc)" --arg mem "$mem" \
		--arg kernel "$(uname -r)" --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
		--arg ovn "$(ovn-nbctl --version | head -n1)" --arg ovs "$(ovs-vsctl --version | head -n1)" \
		--arg lxd "$(lxd --version)" --arg go "$(go version)" \
		--arg ovnfwd "$("$BIN" version 2>/dev/null | head -n1)" \
		--arg git "$(cd "$ROOT" && git describe --always --dirty 2>/dev/null)" \
		--arg bfd "$TB_BFD_MS" --arg prefix "$PREFIX" --arg network "$NETWORK" \
		--argjson events "$EVENTS" --argjson drift "$DRIFT" --argjson kills "$KILLS" --argjson sample "$SAMPLE" \
		--argjson repair_budget "$REPAIR_BUDGET" --argjson events_budget "$EVENTS_BUDGET" --argjson drift_budget "$DRIFT_BUDGET" \
		--arg debounce "$(flag_default claim-debounce)" \
		--arg settle "$(flag_default nb-settle)" \
		--arg delgrace "$(flag_default nb-delete-grace)" \
		--arg curve "$CURVE" --argjson curve_runs "$CURVE_RUNS" \
		'{mode:$mode, forwards:$n, rows:($n*2), runs:$runs, date:$date, host:$host, cpu:$cpu, cores:$cores, mem:$mem,
		  kernel:$kernel, os:$os, ovn:$ovn, ovs:$ovs, lxd:$lxd, go:$go, ovnfwd:$ovnfwd, git:$git, bfd_ms:$bfd,
		  prefix:$prefix, network:$network, events:$events, drift:$drift, kills:$kills, baseline_sample:$sample,
		  curve:$curve, curve_runs:$curve_runs, claim_debounce:$debounce, nb_settle:$settle, nb_delete_grace:$delgrace, repair_budget_s:$repair_budget, events_budget_s:$events_budget, drift_budget_s:$drift_budget}'
}
meta >"$R/meta.json"

# --- 2. cold repair ---------------------------------------------------------------
m2() {
	local i b a bin prof tc
	seed "$N"
	log "  seeded $N forwards into LXD's database (no OVN rows)"
	"$BT" nb-clear -match "$MATCH" >/dev/null
	settle
	local t0=$SECONDS
	for i in $(seq "$REPAIR_RUNS"); do
		if [ "$i" -gt "$MIN_RUNS" ] && [ $((SECONDS - t0)) -ge "$REPAIR_BUDGET" ]; then
			log "  time budget (${REPAIR_BUDGET}s) used after $((i - 1)) runs"
			echo "{\"runs\":$((i - 1)),\"requested\":$REPAIR_RUNS,\"budget_s\":$REPAIR_BUDGET}" >"$R/m2-budget.json"
			break
		fi
		if [ "$i" -gt 1 ]; then
			"$BT" nb-clear -match "$MATCH" >/dev/null
			settle
		fi
		# The first run is the profiling build (same sources plus runtime/pprof
		# started at init; its overhead is within the run-to-run spread).
		bin=$BIN prof=false
		if [ "$i" = 1 ] && [ -f "$PROF/built" ]; then
			bin=$PROF/ovnfwd prof=true
		fi
		# Count the NB transactions (and rows per transaction) it commits.
		rm -f "$WORK/tc.ready"
		"$BT" txn-count -match "$MATCH" -ready "$WORK/tc.ready" >"$R/m2-txns-run$i.json" 2>/dev/null &
		tc=$!
		for _ in $(seq 100); do [ -e "$WORK/tc.ready" ] && break; sleep 0.05; done
		b=$(cpu_snapshot)
		OVNFWD_CPUPROFILE=$WORK/repair.cpu.pprof OVNFWD_MEMPROFILE=$WORK/repair.mem.pprof \
			timed "$bin" repair --yes --format json --deletion-budget -1 --settle "$REPAIR_SETTLE" >"$R/m2-run$i.json" 2>"$WORK/m2-run$i.err"
		a=$(cpu_snapshot)
		sleep 0.5
		kill -INT "$tc" 2>/dev/null || true
		wait "$tc" || true
		cpu_delta "$b" "$a" "$T_S" >"$R/m2-cpu-run$i.json"
		jq -c --argjson run "$i" --argjson wall "$T_S" --argjson rss "$RSS_KB" --argjson rc "$RC" \
			--argjson cpu "$CPU_S" --argjson prof "$prof" \
			'{run:$run, wall_s:$wall, rss_kb:$rss, cpu_s:$cpu, exit:$rc, profiled:$prof, forwards:.summary.forwards, ok:.summary.ok,
			  changes:.summary.changes, findings:.summary.findings, by_category:.summary.by_category}' \
			"$R/m2-run$i.json" >>"$R/m2.jsonl"
		log "  repair run $i$([ "$prof" = true ] && echo ' (profiled)'): ${T_S}s, exit $RC, ovnfwd CPU ${CPU_S}s, $(jq -c '{ok:.summary.ok, changes:.summary.changes}' "$R/m2-run$i.json"), $(jq -c '{transactions, max_rows_per_txn}' "$R/m2-txns-run$i.json" 2>/dev/null)"
	done
	# The options ovnfwd writes on a row (policy, e.g. neighbor_responder):
	# the batched floor writes the same.
	nbctl --bare --columns=options find Load_Balancer name="$PREFIX-lb-198.18.0.1-tcp" | tr ' ' ',' >"$WORK/lb-options"
	if [ -s "$WORK/repair.cpu.pprof" ]; then
		pprof_top "$WORK/repair.cpu.pprof" "$PROF/ovnfwd" "$R/prof-repair-cpu.txt"
		pprof_top "$WORK/repair.cpu.pprof" "$PROF/ovnfwd" "$R/prof-repair-cpu-cum.txt" -cum
		pprof_top "$WORK/repair.cpu.pprof" "$PROF/ovnfwd" "$R/prof-repair-cpu-lines.txt" -lines
		pprof_top "$WORK/repair.mem.pprof" "$PROF/ovnfwd" "$R/prof-repair-alloc.txt" -sample_index=alloc_space
	fi
	settle
}

# The floor of a cold repair: the same rows written straight into NB by
# benchtool in transactions of 500 forwards, then northd and every chassis
# caught up; `ovnfwd check --deep` must then find nothing to repair.
m2b() {
	local i t0=$SECONDS
	lxdsql "SELECT count(*) FROM networks_forwards WHERE listen_address LIKE '198.18.%'" | grep -q " $N " || {
		clear_bench_state; seed "$N"; }
	for i in $(seq "$RUNS"); do
		if [ "$i" -gt "$MIN_RUNS" ] && [ $((SECONDS - t0)) -ge "$((REPAIR_BUDGET / 3))" ]; then
			break
		fi
		"$BT" nb-clear -match "$MATCH" >/dev/null
		settle
		timed "$BT" write-batched -n "$N" -prefix "$PREFIX" -batch 500 -options "$(cat "$WORK/lb-options" 2>/dev/null)" >"$WORK/m2b.json"
		"$BIN" check --deep --format json >"$WORK/m2b-check.json" 2>/dev/null || true
		jq -c --argjson run "$i" --argjson wall "$T_S" --argjson findings "$(jq '[.findings[]? | select((.listen_address // "") | startswith("198.18."))] | length' "$WORK/m2b-check.json" 2>/dev/null || echo null)" \
			--argjson ok "$(jq .summary.ok "$WORK/m2b-check.json")" \
			'. + {run:$run, wall_s:$wall, check_findings:$findings, check_ok:$ok}' "$WORK/m2b.json" >>"$R/m2b.jsonl"
		log "  batched write run $i: $(tail -n1 "$R/m2b.jsonl" | jq -c '{write_s, northd_s, chassis_s, transactions, check_ok, check_findings}')"
		# Issue 14's other floor: every row in ONE transaction.
		"$BT" nb-clear -match "$MATCH" >/dev/null
		settle
		timed "$BT" write-batched -n "$N" -prefix "$PREFIX" -batch "$N" -options "$(cat "$WORK/lb-options" 2>/dev/null)" >"$WORK/m2b1.json"
		"$BIN" check --deep --format json >"$WORK/m2b1-check.json" 2>/dev/null || true
		jq -c --argjson run "$i" --argjson wall "$T_S" --argjson findings "$(jq '[.findings[]? | select((.listen_address // "") | startswith("198.18."))] | length' "$WORK/m2b1-check.json" 2>/dev/null || echo null)" \
			'. + {run:$run, wall_s:$wall, check_findings:$findings}' "$WORK/m2b1.json" >>"$R/m2b1.jsonl"
		log "  one-transaction write run $i: $(tail -n1 "$R/m2b1.jsonl" | jq -c '{write_s, northd_s, chassis_s, transactions, check_findings}')"
	done
	consistent
}

# Make NB hold exactly what ovnfwd wants for the benchmark's forwards.
consistent() {
	if [ "$(nbctl --bare --columns=name find Load_Balancer | grep -c "^$MATCH")" -lt $((2 * N)) ]; then
		lxdsql "SELECT count(*) FROM networks_forwards WHERE listen_address LIKE '198.18.%'" | grep -q " $N " || {
			clear_bench_state; seed "$N"; }
	fi
	if ! "$BIN" check --format json >"$WORK/consistent.json" 2>/dev/null; then
		"$BIN" repair --yes --deletion-budget -1 --format json >/dev/null 2>&1 || true
		settle
	fi
}

# --- 1. cold check ------------------------------------------------------------------
m1() {
	local i line b a
	consistent
	for i in $(seq "$RUNS"); do
		line="{\"run\":$i"
		b=$(cpu_snapshot)
		timed "$BIN" check --format json >"$WORK/m1-check.json"
		a=$(cpu_snapshot)
		[ "$i" = 1 ] && cpu_delta "$b" "$a" "$T_S" >"$R/m1-cpu-check.json"
		line="$line,\"check_s\":$T_S,\"check_rss_kb\":$RSS_KB,\"check_cpu_s\":$CPU_S,\"check_exit\":$RC,\"check_forwards\":$(jq .summary.forwards "$WORK/m1-check.json"),\"check_findings\":$(jq .summary.findings "$WORK/m1-check.json")"
		timed "$BIN" check --deep --format json >"$WORK/m1-checkd.json"
		line="$line,\"deep_s\":$T_S,\"deep_rss_kb\":$RSS_KB,\"deep_exit\":$RC"
		timed "$BT" lxd-list >"$WORK/m1-lxd.json"
		line="$line,\"lxd_go_s\":$T_S,\"lxd_go_rss_kb\":$RSS_KB,\"lxd_go_cpu_s\":$CPU_S,\"lxd_go_forwards\":$(jq .forwards "$WORK/m1-lxd.json")"
		timed sh -c 'lxc network forward list "$1" --format json >/dev/null' _ "$NETWORK"
		line="$line,\"lxd_cli_s\":$T_S"
		timed "$BT" nb-read >"$WORK/m1-nb.json"
		line="$line,\"nb_go_s\":$T_S,\"nb_go_rss_kb\":$RSS_KB,\"nb_go_rows\":$(jq .load_balancers "$WORK/m1-nb.json")"
		timed "$BT" nb-read-raw >"$WORK/m1-nbraw.json"
		line="$line,\"nb_raw_s\":$T_S,\"nb_raw_rss_kb\":$RSS_KB,\"nb_raw_cpu_s\":$CPU_S,\"nb_raw_rows\":$(jq .load_balancers "$WORK/m1-nbraw.json")"
		timed sh -c 'ovn-nbctl --db="$OVNFWD_NB" --format=json list Load_Balancer >/dev/null'
		line="$line,\"nb_cli_s\":$T_S"
		timed bash "$HERE/benchtool/baseline.sh" "$NETWORK" "$PREFIX" 1 >/dev/null
		line="$line,\"baseline1_s\":$T_S"
		timed bash "$HERE/benchtool/baseline.sh" "$NETWORK" "$PREFIX" "$SAMPLE" >"$WORK/m1-baseline.txt"
		line="$line,\"baseline_s\":$T_S,\"baseline_sample\":$SAMPLE,\"baseline_exit\":$RC,\"baseline_out\":$(tail -n1 "$WORK/m1-baseline.txt" | jq -R .)"
		echo "$line}" >>"$R/m1.jsonl"
		log "  round $i: $(tail -n1 "$R/m1.jsonl" | jq -c '{check_s, deep_s, lxd_go_s, lxd_cli_s, nb_go_s, nb_cli_s, baseline_s}')"
	done
	OVNFWD_CPUPROFILE=$WORK/check.cpu.pprof OVNFWD_MEMPROFILE=$WORK/check.mem.pprof "$PROF/ovnfwd" check --format json >/dev/null 2>&1 || true
	pprof_top "$WORK/check.cpu.pprof" "$PROF/ovnfwd" "$R/prof-check-cpu.txt"
	pprof_top "$WORK/check.cpu.pprof" "$PROF/ovnfwd" "$R/prof-check-cpu-cum.txt" -cum
	pprof_top "$WORK/check.cpu.pprof" "$PROF/ovnfwd" "$R/prof-check-cpu-lines.txt" -lines
	pprof_top "$WORK/check.mem.pprof" "$PROF/ovnfwd" "$R/prof-check-alloc.txt" -sample_index=alloc_space
}

# --- 6. memory (the daemon at N), then 3, 4, 5 under the same daemon ---------------------
daemon_up() {
	if [ -z "$(daemon_pid)" ]; then
		consistent
		start_daemon "$WORK/daemon.log"
		wait_ok "$N"
	fi
}

rss_steady() { # forwards label
	local s samples="" i
	sleep 5
	for i in $(seq 5); do
		s=$(rss_kb "$(daemon_pid)")
		samples="$samples$s,"
		sleep 1
	done
	jq -nc --argjson n "$1" --arg what "$2" --argjson s "[${samples%,}]" --argjson hwm "$(hwm_kb "$(daemon_pid)")" \
		'{forwards:$n, label:$what, rss_kb:$s, hwm_kb:$hwm}' >>"$R/m6.jsonl"
	log "  steady RSS at $1 forwards: $(tail -n1 "$R/m6.jsonl" | jq -c .rss_kb) kB (peak $(tail -n1 "$R/m6.jsonl" | jq .hwm_kb) kB)"
}

m6() {
	daemon_up
	rss_steady "$N" "after start (initial full pass)"
	# Where the memory is: the daemon's live heap.
	curl -sf -o "$WORK/daemon.heap.pprof" "$METRICS/debug/pprof/heap" &&
		pprof_top "$WORK/daemon.heap.pprof" "$BIN" "$R/prof-daemon-heap.txt" -sample_index=inuse_space
	curl -sf "$METRICS/metrics" | grep -E '^go_memstats_(heap_inuse|heap_alloc|sys|next_gc)_bytes|^go_gc_gogc' >"$R/m6-memstats.txt" || true
}

m3() {
	daemon_up
	local b a t
	# The floor of "verified down to the chassis": an nb_cfg round trip.
	"$BT" nbcfg-rtt -n 10 >"$R/m3-floor.json"
	log "  nb_cfg round trip: $(jq -c '{northd: .northd.median, chassis: .chassis.median}' "$R/m3-floor.json")"
	curl -sf -o "$WORK/daemon-events.cpu.pprof" "$METRICS/debug/pprof/profile?seconds=30" &
	local cp=$!
	b=$(cpu_snapshot); t=$(now_ns)
	"$BT" events -n "$EVENTS" -budget "${EVENTS_BUDGET}s" -min "$MIN_OPS" -network "$NETWORK" -prefix "$PREFIX" -base 198.18.200. -nb-db "$TB_NB_DB" -metrics "$METRICS/metrics" >"$R/m3.json"
	a=$(cpu_snapshot)
	cpu_delta "$b" "$a" "$(secs "$t" "$(now_ns)")" >"$R/m3-cpu.json"
	wait $cp || true
	pprof_top "$WORK/daemon-events.cpu.pprof" "$BIN" "$R/prof-daemon-events-cpu.txt"
	pprof_top "$WORK/daemon-events.cpu.pprof" "$BIN" "$R/prof-daemon-events-cpu-cum.txt" -cum
	log "  $(jq -c '{counts, failures, daemon: .daemon_event_to_verified | {n, median, p99, max}}' "$R/m3.json")"
}

m4() {
	daemon_up
	local b a t
	curl -sf -o "$WORK/daemon-drift.cpu.pprof" "$METRICS/debug/pprof/profile?seconds=30" &
	local cp=$!
	b=$(cpu_snapshot); t=$(now_ns)
	"$BT" drift -n "$DRIFT" -budget "${DRIFT_BUDGET}s" -min "$MIN_OPS" -prefix "$PREFIX" -match 198.18. -metrics "$METRICS/metrics" >"$R/m4.json"
	a=$(cpu_snapshot)
	cpu_delta "$b" "$a" "$(secs "$t" "$(now_ns)")" >"$R/m4-cpu.json"
	wait $cp || true
	pprof_top "$WORK/daemon-drift.cpu.pprof" "$BIN" "$R/prof-daemon-drift-cpu.txt"
	pprof_top "$WORK/daemon-drift.cpu.pprof" "$BIN" "$R/prof-daemon-drift-cpu-cum.txt" -cum
	log "  $(jq -c '{failures, all: .all | {n, median, p99, max}}' "$R/m4.json")"
}

m5() {
	daemon_up
	# The daemon's own reaction, timed by uprobes on the binary: the start of
	# a full re-verification and the end of every verification.
	if ! mountpoint -q /sys/kernel/tracing 2>/dev/null; then
		mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null && touch "$TRACEFS_FLAG"
	fi
	perf probe -q -d 'ovnfwdbench:*' 2>/dev/null || true
	if perf probe -q -x "$BIN" -a 'ovnfwdbench:reverify=main.(*engine).reverify' 2>"$WORK/probe.err" &&
		echo "ovnfwdbench:reverify" >"$PROBES_FILE" &&
		perf probe -q -x "$BIN" -a 'ovnfwdbench:verified=main.(*metrics).setStates' 2>>"$WORK/probe.err"; then
		echo "ovnfwdbench:verified" >>"$PROBES_FILE"
		perf record -q -k CLOCK_MONOTONIC -e ovnfwdbench:reverify -e ovnfwdbench:verified \
			-p "$(daemon_pid)" -o "$WORK/perf.data" >/dev/null 2>"$WORK/perf.err" &
		echo $! >"$PERF_PIDFILE"
		sleep 1
	else
		log "  uprobes unavailable ($(head -c 200 "$WORK/probe.err")): only the daemon's own metrics"
	fi
	curl -sf "$METRICS/metrics" >"$WORK/m5-metrics-before.txt"
	"$BT" failover -kills "$KILLS" -prefix "$PREFIX" -metrics "$METRICS/metrics" -killed-file "$WORK/killed" >"$R/m5.json"
	curl -sf "$METRICS/metrics" >"$WORK/m5-metrics-after.txt"
	if [ -f "$PERF_PIDFILE" ]; then
		stop_perf
		perf script -i "$WORK/perf.data" -F time,event >"$WORK/perf.txt" 2>/dev/null || true
		"$BT" failover-join -claims "$R/m5.json" -perf "$WORK/perf.txt" >"$R/m5-join.json"
	fi
	remove_probes
	log "  $(jq -c '.kill_to_claim | {n, median, max}' "$R/m5.json") kill→claim; $( [ -f "$R/m5-join.json" ] && jq -c '.failover_verified | {n, median, p99, max}' "$R/m5-join.json") claim→verified"
}

m6_after() {
	[ -n "$(daemon_pid)" ] || return 0
	rss_steady "$N" "after the event, drift and failover runs"
	stop_daemon
	[ "$MODE" = full ] || return 0
	# The same daemon with --memory-limit auto (a Go soft memory limit a
	# quarter above the live heap after each full pass): it trades GC CPU
	# for memory.
	start_daemon "$WORK/daemon-memlimit.log" OVNFWD_MEMORY_LIMIT=auto
	wait_ok "$N"
	rss_steady "$N" "after start, with --memory-limit auto"
	curl -sf "$METRICS/metrics" | awk '$1 == "process_cpu_seconds_total" { print $2 }' >"$R/m6-memlimit-cpu.txt" || true
	stop_daemon
}

m6_1k() {
	[ "$N" -gt 1000 ] || return 0
	stop_daemon
	clear_bench_state
	seed 1000
	"$BIN" repair --yes --deletion-budget -1 --format json >/dev/null 2>&1 || true
	settle
	start_daemon "$WORK/daemon-1k.log"
	wait_ok 1000
	rss_steady 1000 "after start (initial full pass)"
	stop_daemon
}

# --- 8. cost curve: check, repair and run at several sizes ------------------------
# Issue 14: per-forward time and memory at 1k, 10k and 50k forwards (quick:
# 1k and 3k), with LXD's own listing and the NB read as the references.
# Each size starts from an empty bed (no benchmark forward, no row).
curve_line() { # size what run [extra JSON object]
	local extra=${4:-}
	[ -n "$extra" ] || extra='{}'
	jq -nc --argjson n "$1" --arg what "$2" --argjson run "$3" --argjson wall "$T_S" --argjson rss "${RSS_KB:-0}" \
		--argjson cpu "${CPU_S:-0}" --argjson rc "${RC:-0}" --argjson extra "$extra" \
		'{forwards:$n, what:$what, run:$run, wall_s:$wall, rss_kb:$rss, cpu_s:$cpu, exit:$rc} + $extra' >>"$R/m8.jsonl"
}

m8() {
	local s i t b a tries
	stop_daemon
	for s in $CURVE; do
		clear_bench_state
		settle
		seed "$s"
		log "  curve: $s forwards"
		# Cold repairs, to verified, each from an NB without the rows. A
		# repair that does not finish (exit 2: a change could not be
		# written) is recorded and retried once, so that the measures after
		# it start from a consistent NB.
		for i in $(seq "$CURVE_RUNS"); do
			if [ "$i" -gt 1 ]; then
				"$BT" nb-clear -match "$MATCH" >/dev/null
				settle
			fi
			b=$(cpu_snapshot)
			timed "$BIN" repair --yes --format json --deletion-budget -1 --settle "$REPAIR_SETTLE" >"$WORK/m8-repair.json" 2>"$WORK/m8-repair-$s-$i.err"
			a=$(cpu_snapshot)
			curve_line "$s" repair "$i" "$(jq -c --argjson cpu "$(cpu_delta "$b" "$a" "$T_S")" '{ok:.summary.ok, changes:.summary.changes, findings:.summary.findings, bed_cpu:$cpu.cpu_s}' "$WORK/m8-repair.json" 2>/dev/null || echo '{}')"
			log "  curve $s: repair run $i ${T_S}s, exit $RC, RSS $((RSS_KB / 1024)) MiB, $(jq -c '{ok:.summary.ok, changes:.summary.changes}' "$WORK/m8-repair.json" 2>/dev/null)"
			if [ "$RC" != 0 ]; then
				"$BIN" repair --yes --deletion-budget -1 --format json >/dev/null 2>&1 || true
			fi
			settle
		done
		for i in $(seq "$CURVE_RUNS"); do
			timed "$BIN" check --format json >"$WORK/m8-check.json"
			curve_line "$s" check "$i" "$(jq -c '{forwards_seen:.summary.forwards, findings:.summary.findings}' "$WORK/m8-check.json" 2>/dev/null || echo '{}')"
			timed "$BT" lxd-list >/dev/null
			curve_line "$s" lxd-list "$i"
			timed "$BT" nb-read >/dev/null
			curve_line "$s" nb-read "$i"
			timed "$BT" nb-read-raw >/dev/null
			curve_line "$s" nb-read-raw "$i"
		done
		log "  curve $s: $(jq -sc --argjson n "$s" '[.[] | select(.forwards == $n and .what != "repair")] | group_by(.what) | map({(.[0].what): (map(.wall_s) | sort | .[length/2|floor])}) | add' "$R/m8.jsonl")"
		# The daemon: time to every forward ok, then its steady RSS; each
		# run a fresh start against the same (consistent) NB.
		local samples x
		for i in $(seq "$CURVE_RUNS"); do
			t=$(now_ns)
			start_daemon "$WORK/daemon-curve-$s-$i.log"
			wait_ok "$s" 900
			T_S=$(secs "$t" "$(now_ns)") RSS_KB=0 CPU_S=0 RC=0
			sleep 5
			samples=""
			for x in 1 2 3 4 5; do samples="$samples$(rss_kb "$(daemon_pid)"),"; sleep 1; done
			curve_line "$s" run "$i" "{\"steady_rss_kb\":[${samples%,}],\"hwm_kb\":$(hwm_kb "$(daemon_pid)")}"
			log "  curve $s: run $i all ok after ${T_S}s, RSS [${samples%,}] kB, peak $(hwm_kb "$(daemon_pid)") kB"
			stop_daemon
		done
	done
	clear_bench_state
	settle
}

# --- 7. Go benchmarks ---------------------------------------------------------------
m7() {
	local bt=1s
	[ "$MODE" = quick ] && bt=1x
	(cd "$ROOT" && go test -run '^$' -bench . -benchmem -benchtime "$bt" -count 1 ./sync/) >"$R/m7.txt" 2>&1
	grep -E '^Benchmark' "$R/m7.txt" | sed 's/^/  /' >&2
}

phase m2 m2
phase m2 m2b
phase m1 m1
phase m6 m6
phase m3 m3
phase m4 m4
phase m5 m5
phase m6 m6_after
phase m6 m6_1k
stop_daemon
phase m8 m8
phase m7 m7

log "writing $OUT"
mkdir -p "$(dirname "$OUT")"
how="bash integration/bench.sh $MODE ${BIN#"$ROOT"/}"
if [ "${BIN#"$ROOT"/}" = bin/ovnfwd ]; then
	target=bench
	[ "$MODE" != quick ] || target=bench-quick
	how="make $target (= $how)"
fi
"$BT" report -dir "$R" -out "$OUT" -cmd "$how" -analysis "$HERE/benchtool/analysis.md" -other-runs "$HERE/benchtool/other-runs.md" || die "report"
[ -z "$FAILED" ] || die "phases failed:$FAILED"
exit 0
}
