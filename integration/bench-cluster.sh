#!/usr/bin/env bash
# Cluster idle cost (issues 16, 14): with N forwards realized, the NB
# transactions and northd CPU per minute of northd alone, of ONE member's
# `ovnfwd run` with fixed liveness pings (--liveness-northd-share 0) and with
# the defaults, and of THREE members' (one writer elected by the NB lock),
# measured one after the other on the three-member cluster bed
# (TB_MODE=cluster).
#
#   bench-cluster.sh PATH-TO-OVNFWD     (make bench-cluster)
#
# The one- and three-member windows alternate BENCH_RUNS times (5; the order
# flips every run, so a slow drift of the machine favours neither), and the
# table gives min / median / max of each and of the per-run ratios
# three ÷ one (issue 14's goal: a cluster costs what one member does).
#
# Knobs: BENCH_FORWARDS (10000), BENCH_RUNS (5), BENCH_IDLE_SECONDS (60 per window),
# BENCH_WARMUP (20 s after the daemons are ready), BENCH_KEEP=1 (keep the work
# directory: daemon logs, raw results). Only listen addresses in
# 198.18.0.0/16 are used; they are removed again at the end.
{
set -euo pipefail
BIN=${1:-}
[ -x "$BIN" ] || { echo "bench-cluster.sh: ovnfwd binary '$BIN' not found" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
ENVFILE=${TB_STATE:-$HERE/.testbed}/env
[ -f "$ENVFILE" ] || { echo "bench-cluster.sh: no test bed ($ENVFILE)" >&2; exit 2; }
set -a; . "$ENVFILE"; set +a
[ "${TB_MODE:-}" = cluster ] || { echo "bench-cluster.sh: the bed is not a cluster bed (make testbed-cluster-up)" >&2; exit 2; }
LOCK=${TB_LOCK:-/run/lock/ovnfwd-testbed.lock}
if [ -z "${BENCH_LOCKED:-}" ]; then
	BENCH_LOCKED=1 exec flock -o -w 1800 "$LOCK" bash "$0" "$@"
fi
N=${BENCH_FORWARDS:-10000}
WINDOW=${BENCH_IDLE_SECONDS:-60}
RUNS=${BENCH_RUNS:-5}
WARMUP=${BENCH_WARMUP:-20}
WORK=$(mktemp -d /tmp/ovnfwd-bench-cluster.XXXXXX)
T0=$SECONDS
log() { printf '[bench-cluster %4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
export LXD_DIR=$TB_M1_LXD_DIR OVNFWD_LXD=$TB_M1_SOCKET OVNFWD_NB OVNFWD_SB
lxdsql() { lxd sql global "$1"; }
nbctl() { ovn-nbctl --db="$OVNFWD_NB" --timeout=600 "$@"; }
NETID=$(lxdsql "SELECT id FROM networks WHERE name='$TB_NETWORK' AND project_id=1" | grep -Eo '[0-9]+' | head -n1)
MATCH="lxd-net$NETID-lb-198.18."
BT=$WORK/benchtool
(cd "$ROOT" && go build -tags bench -o "$BT" ./integration/benchtool)

PIDS=()
stop_daemons() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$p" 2>/dev/null || true; done
	PIDS=()
}
clear_state() {
	lxdsql "DELETE FROM networks_forwards WHERE network_id=$NETID AND listen_address LIKE '198.18.%'" >/dev/null
	"$BT" nb-clear -match "$MATCH" >/dev/null
}
cleanup() {
	local rc=$?
	set +e
	stop_daemons
	clear_state
	nbctl --wait=sb sync >/dev/null 2>&1
	if [ -n "${BENCH_KEEP:-}" ]; then log "kept $WORK (daemon logs, raw results)"; else rm -rf "$WORK"; fi
	log "done (exit $rc)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Member n's daemon, as the member runs it (its LXD, its local OVS).
start_member() { # n port [ovnfwd run flags]
	local n=$1 port=$2 dir v
	shift 2
	v="TB_CH${n}_DIR"; dir=${!v}
	v="TB_M${n}_SOCKET"
	env OVNFWD_LXD="${!v}" OVS_RUNDIR="$dir" OVS_DBDIR="$dir" OVS_LOGDIR="$dir" OVS_SYSCONFDIR="$dir" \
		"$BIN" --log-format json run --metrics-address "127.0.0.1:$port" "$@" >"$WORK/${CUR:-run}-m$n.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1800); do
		curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	log "member $n's daemon not ready after 180 s"; tail -5 "$WORK/${CUR:-run}-m$n.log" >&2; return 1
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One idle window: NB transactions by table and northd CPU.
measure() { # label run members [ovnfwd run flags]
	local label=$1 run=$2 members=$3 before after northd m port=$((19900 + RANDOM % 50))
	shift 3
	CUR=$label-$run
	for m in $members; do start_member "$m" $((port + m)) "$@"; done
	sleep "$WARMUP"
	northd=$(cat "$TB_STATE/central/northd.pid")
	rm -f "$WORK/ready"
	"$BT" nb-txns -ready "$WORK/ready" >"$WORK/$CUR.json" &
	local tc=$!
	for _ in $(seq 100); do [ -f "$WORK/ready" ] && break; sleep 0.05; done
	before=$(cpu_ticks "$northd")
	sleep "$WINDOW"
	after=$(cpu_ticks "$northd")
	kill -INT "$tc"; wait "$tc" || true
	local writers=0 gap=null
	for m in $members; do
		w=$(curl -sf "http://127.0.0.1:$((port + m))/metrics" | awk '$1 == "ovnfwd_writer" { print $2 }')
		if [ "${w%.*}" = 1 ]; then
			writers=$((writers + 1))
			gap=$(curl -sf "http://127.0.0.1:$((port + m))/metrics" | awk '$1 == "ovnfwd_liveness_interval_seconds" { print $2 }')
		fi
	done
	jq -c --arg lbl "$label" --argjson run "$run" --argjson cpu "$(awk -v a="$before" -v b="$after" -v hz="$(getconf CLK_TCK)" -v w="$WINDOW" 'BEGIN { printf "%.3f", (b - a) / hz * 60 / w }')" \
		--argjson w "$WINDOW" --argjson writers "$writers" --argjson gap "${gap:-null}" --arg flags "$*" \
		'{"label": $lbl, "run": $run, "flags": $flags, "txns_per_min": (.transactions * 60 / $w), "by_tables": .by_tables, "northd_cpu_s_per_min": $cpu, "writers": $writers, "ping_interval_s": $gap}' "$WORK/$CUR.json" | tee -a "$WORK/results.jsonl" >&2
	stop_daemons
}

clear_state
log "seeding $N forwards into LXD's database, repairing them into NB"
lxdsql "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM seq WHERE i < $((N - 1)))
INSERT INTO networks_forwards (network_id, node_id, listen_address, description, ports)
SELECT $NETID, NULL, '198.18.' || (i/250) || '.' || (i%250+1), 'ovnfwd-bench',
 '[{\"description\":\"\",\"protocol\":\"tcp\",\"listen_port\":\"80\",\"target_port\":\"8080\",\"target_address\":\"10.10.10.' || (i%250+2) || '\"},' ||
 '{\"description\":\"\",\"protocol\":\"udp\",\"listen_port\":\"53\",\"target_port\":\"\",\"target_address\":\"10.10.10.' || (i%250+2) || '\"}]'
FROM seq" >/dev/null
t=$SECONDS
"$BIN" repair --yes --deletion-budget -1 --timeout 60s --settle 120s --format json >/dev/null 2>"$WORK/repair.err" || true
nbctl --wait=sb sync
log "  repaired and realized in $((SECONDS - t)) s"

measure none 1 ""
measure fixed 1 "1" --liveness-northd-share 0
for r in $(seq "$RUNS"); do
	log "run $r of $RUNS"
	if [ $((r % 2)) = 1 ]; then
		measure one "$r" "1"; measure three "$r" "1 2 3"
	else
		measure three "$r" "1 2 3"; measure one "$r" "1"
	fi
done

# min / median / max (the lower middle of an even count).
jq -rs --arg n "$N" --arg w "$WINDOW" --argjson runs "$RUNS" '
  def mmm: sort | "\(.[0]) / \(.[(length - 1) / 2 | floor]) / \(.[-1])";
  def r2: . * 100 | round / 100;
  def ratio($f): [group_by(.run)[] | (map(select(.label == "three"))[0][$f]) as $t | (map(select(.label == "one"))[0][$f]) as $o
    | select($t != null and $o != null) | if $o == 0 then (if $t == 0 then 1 else 99 end) else $t / $o | r2 end];
  . as $all | [.[] | select(.label == "one" or .label == "three")] as $pairs |
  "| members running ovnfwd | flags | windows | NB transactions / min | northd CPU s / min | writers | writer'"'"'s ping interval |",
  "|---|---|---|---|---|---|---|",
  ($all | group_by(.label) | sort_by(.[0].label | {"none": 0, "fixed": 1, "one": 2, "three": 3}[.]) | .[] |
    "| \(if .[0].label == "none" then "none (northd alone)" elif .[0].label == "three" then "3" else "1" end) | \(if .[0].label == "none" then "–" elif .[0].flags == "" then "defaults" else "`\(.[0].flags)`" end) | \(length) | \(map(.txns_per_min | r2) | mmm) | \(map(.northd_cpu_s_per_min) | mmm) | \(map(.writers) | mmm) | \([.[].ping_interval_s | select(. != null) | r2] | if length == 0 then "–" else "\(mmm) s" end) |"),
  "",
  "Three members ÷ one, per run (\($runs) runs, min / median / max): NB transactions \($pairs | ratio("txns_per_min") | mmm)×, northd CPU \($pairs | ratio("northd_cpu_s_per_min") | mmm)×.",
  "",
  "\($n) forwards, \($w) s idle window per row after a warm-up, the one- and three-member windows alternating; cells are min / median / max over the windows; NB transactions by table per window: \([.[] | {(.label + "-" + (.run | tostring)): .by_tables}] | add | tostring)."
' "$WORK/results.jsonl" | tee "$TB_STATE/BENCHMARKS-cluster.md"
}
