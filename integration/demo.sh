#!/usr/bin/env bash
# ovnfwd's main job on the built-in test bed, step by step:
#   1. forwards created through LXD, plus two "lost" ones (in LXD's DB only);
#   2. NB damaged behind LXD's back (row deleted, VIP edited, row detached,
#      duplicate row, stale row);
#   3. `ovnfwd check` finds every divergence (exit 1);
#   4. `ovnfwd run` repairs it and verifies the chain down to the chassis;
#   5. more drift while it runs is repaired within a fraction of a second;
#   6. `ovnfwd check --deep` is clean (exit 0).
# Usage: integration/demo.sh PATH-TO-OVNFWD   (make demo does this)
set -euo pipefail
BIN=${1:?usage: demo.sh path/to/ovnfwd}
HERE=$(cd "$(dirname "$0")" && pwd)
set -a
# shellcheck disable=SC1091
. "$HERE/.testbed/env"
set +a
NET=$TB_NETWORK
nbctl() { ovn-nbctl --db="$OVNFWD_NB" --timeout=20 "$@"; }
lxc_() { LXD_DIR=$LXD_DIR lxc "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

PREFIX=lxd-net$(LXD_DIR=$LXD_DIR lxd sql global "SELECT id FROM networks WHERE name='$NET' AND project_id=1" | grep -Eo '[0-9]+' | head -n1)
NETID=${PREFIX#lxd-net}

step "clean slate: no forwards on $NET"
for a in $(lxc_ network forward list "$NET" --format csv | cut -d, -f1); do lxc_ network forward delete "$NET" "$a"; done
LXD_DIR=$LXD_DIR lxd sql global "DELETE FROM networks_forwards WHERE network_id=$NETID" >/dev/null
for u in $(nbctl --bare --columns=_uuid find Load_Balancer | grep .); do
	n=$(nbctl --bare --columns=name list Load_Balancer "$u")
	case "$n" in "$PREFIX"-lb-*) nbctl lb-del "$u" ;; esac
done

step "1. forwards through LXD (LXD writes their OVN rows once)"
lxc_ network forward create "$NET" 198.51.100.10
lxc_ network forward port add "$NET" 198.51.100.10 tcp 80,443 10.10.10.5
lxc_ network forward create "$NET" 198.51.100.11 target_address=10.10.10.6
lxc_ network forward port add "$NET" 198.51.100.11 udp 53 10.10.10.7
lxc_ network forward create "$NET" 198.51.100.12
lxc_ network forward port add "$NET" 198.51.100.12 tcp 8000-8002 10.10.10.8 9000-9002
echo "and two forwards that exist only in LXD's database (LXD wrote no OVN rows for them):"
LXD_DIR=$LXD_DIR lxd sql global "INSERT INTO networks_forwards (network_id, node_id, listen_address, description, ports) VALUES
 ($NETID, NULL, '198.51.100.20', 'restored', '[{\"description\":\"\",\"protocol\":\"tcp\",\"listen_port\":\"22\",\"target_port\":\"\",\"target_address\":\"10.10.10.9\"}]'),
 ($NETID, NULL, '198.51.100.21', 'restored', '[{\"description\":\"\",\"protocol\":\"tcp\",\"listen_port\":\"25\",\"target_port\":\"\",\"target_address\":\"10.10.10.9\"}]')" >/dev/null
lxc_ network forward list "$NET"

step "2. damage NB behind LXD's back"
nbctl lb-del "$PREFIX-lb-198.51.100.10-tcp" && echo "deleted $PREFIX-lb-198.51.100.10-tcp"
nbctl set Load_Balancer "$PREFIX-lb-198.51.100.12-tcp" 'vips:"198.51.100.12:8000"="10.10.10.66:9000"' && echo "edited a VIP of $PREFIX-lb-198.51.100.12-tcp"
nbctl lr-lb-del "$PREFIX-lr" "$PREFIX-lb-198.51.100.11-udp" && echo "detached $PREFIX-lb-198.51.100.11-udp from $PREFIX-lr"
nbctl create Load_Balancer name="$PREFIX-lb-198.51.100.11-tcp" protocol=tcp 'vips={"198.51.100.11"="10.10.10.6"}' >/dev/null && echo "inserted a duplicate $PREFIX-lb-198.51.100.11-tcp"
nbctl lb-add "$PREFIX-lb-198.51.100.99-tcp" 198.51.100.99:80 10.10.10.99:80 tcp && echo "inserted a stale row for a forward LXD does not have"

step "3. ovnfwd check (read-only)"
set +e
"$BIN" check --format table
rc=$?
set -e
echo "exit code $rc (1 = findings)"

step "4. ovnfwd run: repair, then verify the chain down to the active chassis"
LOG=$(mktemp)
"$BIN" --log-format console run --metrics-address 127.0.0.1:9479 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:9479/readyz >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5
grep -E 'repaired|full pass' "$LOG" | sed 's/^/  /' | cut -c1-220
echo "forward states (GET /forwards):"
curl -s http://127.0.0.1:9479/forwards | python3 -c 'import json,sys
for f in json.load(sys.stdin): print("  %-16s %-8s %s" % (f["listen_address"], f["state"], f["reason"]))'

step "5. drift while ovnfwd runs"
nbctl lb-del "$PREFIX-lb-198.51.100.12-tcp"
t0=$(date +%s%N)
until [ -n "$(nbctl --bare --columns=_uuid find Load_Balancer name="$PREFIX-lb-198.51.100.12-tcp")" ]; do sleep 0.01; done
echo "deleted $PREFIX-lb-198.51.100.12-tcp: back after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
lxc_ network forward port add "$NET" 198.51.100.20 udp 514 10.10.10.9 >/dev/null
echo "LXD updated 198.51.100.20 (a forward LXD had no rows for): ovnfwd completes it"
sleep 0.5
curl -s http://127.0.0.1:9479/metrics | grep -E '^ovnfwd_(forwards|drift_repaired_total|event_to_verified_seconds_count)' | sed 's/^/  /'
kill $PID; wait $PID 2>/dev/null || true

step "6. ovnfwd check --deep"
"$BIN" check --deep --format table
echo "exit code $? (0 = every forward verified)"
