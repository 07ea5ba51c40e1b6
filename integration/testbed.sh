#!/usr/bin/env bash
# ovnfwd test bed: real OVN 23.03 central + 3 chassis with BFD-driven gateway
# failover + a real LXD 5.0.2, all on one machine, all in private network
# namespaces. Nothing is added to the root network namespace.
#
#   testbed.sh up | down | status | install
#   testbed.sh chassis-kill N      kill -9 ovs-vswitchd + ovn-controller of chassis N
#   testbed.sh chassis-stop N      graceful ovn-controller exit (deletes its SB rows) + vswitchd stop
#   testbed.sh chassis-start N     (re)start chassis N and re-apply its runtime state
#   testbed.sh underlay-cut N | underlay-restore N   take chassis N's underlay link down/up
#   testbed.sh lxd-stop | lxd-start
#   testbed.sh nb-kill | nb-start   kill -9 / restart the NB ovsdb-server
#   testbed.sh northd-stop | northd-start
#
# State lives in integration/.testbed (override with TB_STATE); it holds
# every pid this script started, so `down` stops exactly those.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${TB_STATE:-$HERE/.testbed}
NCH=3
NS_UL=ovnfwd-ul
NS_PREFIX=ovnfwd-ch
NS_LXD=${NS_PREFIX}1          # LXD shares chassis 1's namespace (its local OVS)
ENCAP_NET=172.31.250
BFD_MS=${TB_BFD_MS:-300}      # BFD min-rx/min-tx; mult 3 -> ~0.9 s detection
LISTEN_RANGE=198.51.100.0/24
LISTEN_RANGE2=198.18.0.0/16
OVN_SUBNET=10.10.10.1/24
UPLINK_ADDR=10.99.0.1/24

# One bed per machine (its namespaces are global): up, down and every test
# run take this lock, whichever checkout they run from.
LOCK=${OVNFWD_TESTBED_LOCK:-/run/lock/ovnfwd-testbed.lock}

CENTRAL=$STATE/central
NB_SOCK=$CENTRAL/nb.sock
SB_SOCK=$CENTRAL/sb.sock
LXD_DIR_TB=$STATE/lxd

log() { printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] error: %s\n' "$*" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() { # pidfile [signal]
	local f=$1 sig=${2:-TERM} p i
	[ -f "$f" ] || return 0
	p=$(cat "$f")
	if kill -0 "$p" 2>/dev/null; then
		kill -"$sig" "$p" 2>/dev/null || true
		for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
	fi
	rm -f "$f"
}

wait_for() { # seconds description command...
	local t=$1 what=$2 i; shift 2
	for i in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	die "timed out after ${t}s waiting for $what"
}

chdir_of() { echo "$STATE/ch$1"; }

# Every OVS/OVN tool of chassis N must see only that chassis's dirs.
ch_env() {
	local d; d=$(chdir_of "$1")
	echo "OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d OVS_SYSCONFDIR=$d OVN_RUNDIR=$d OVN_LOGDIR=$d OVN_DBDIR=$d OVN_SYSCONFDIR=$d"
}
ch_vsctl() { local n=$1; shift; env $(ch_env "$n") ovs-vsctl --db="unix:$(chdir_of "$n")/db.sock" --timeout=10 "$@"; }
ch_appctl() { local n=$1 t=$2; shift 2; env $(ch_env "$n") ovs-appctl -t "$(chdir_of "$n")/$t.ctl" "$@"; }
# Chassis 1 is LXD's own: like on a real member, its hostname is the LXD
# member (server) name, i.e. this host's name. The others stand in for
# members that LXD does not know.
ch_hostname() { if [ "$1" = 1 ]; then hostname; else echo "ch$1"; fi; }
ch_mac() { printf '02:00:00:00:fa:%02x' "$1"; }

cmd_install() {
	local pkgs="lxd lxd-client ovn-central ovn-host openvswitch-switch nftables iptables dnsmasq-base bird2 iproute2 procps"
	local missing="" p
	for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"; done
	[ -z "$missing" ] && return 0
	log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	# The packages may start their own daemons where systemd runs; the bed
	# uses none of them.
	if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
		systemctl stop ovn-central ovn-host openvswitch-switch lxd bird 2>/dev/null || true
	fi
}

# --- OVN central ------------------------------------------------------------
central_up() {
	mkdir -p "$CENTRAL"
	local db
	for db in nb sb; do
		if ! pid_alive "$CENTRAL/$db.pid"; then
			[ -f "$CENTRAL/$db.db" ] || ovsdb-tool create "$CENTRAL/$db.db" "/usr/share/ovn/ovn-$db.ovsschema"
			ovsdb-server "$CENTRAL/$db.db" --remote="punix:$CENTRAL/$db.sock" \
				--pidfile="$CENTRAL/$db.pid" --unixctl="$CENTRAL/$db.ctl" \
				--log-file="$CENTRAL/$db.log" -vconsole:off --detach --no-chdir 2>>"$CENTRAL/start.err"
		fi
	done
	ovn-nbctl --db="unix:$NB_SOCK" --no-wait init
	ovn-sbctl --db="unix:$SB_SOCK" init
	ovn-nbctl --db="unix:$NB_SOCK" --no-wait set NB_Global . \
		options:bfd-min-rx="$BFD_MS" options:bfd-min-tx="$BFD_MS" options:bfd-mult=3
	northd_up
}

northd_up() {
	pid_alive "$CENTRAL/northd.pid" && return 0
	ovn-northd --ovnnb-db="unix:$NB_SOCK" --ovnsb-db="unix:$SB_SOCK" \
		--pidfile="$CENTRAL/northd.pid" --unixctl="$CENTRAL/northd.ctl" \
		--log-file="$CENTRAL/northd.log" -vconsole:off --detach --no-chdir 2>>"$CENTRAL/start.err"
}

# --- Underlay and chassis ---------------------------------------------------
netns_up() {
	local ns=$1
	ip netns list | grep -qw "^$ns" && return 0
	ip netns add "$ns"
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
}

underlay_up() {
	netns_up "$NS_UL"
	ip netns exec "$NS_UL" ip link show br-ul >/dev/null 2>&1 ||
		ip netns exec "$NS_UL" ip link add br-ul type bridge
	ip netns exec "$NS_UL" ip link set br-ul up
}

chassis_create() { # N: namespace, veth, OVS database, static config
	local n=$1 d ns=$NS_PREFIX$1
	d=$(chdir_of "$n")
	mkdir -p "$d"
	netns_up "$ns"
	if ! ip netns exec "$ns" ip link show ul0 >/dev/null 2>&1; then
		ip link add ul0 netns "$ns" type veth peer name "ul-ch$n" netns "$NS_UL"
		ip netns exec "$NS_UL" ip link set "ul-ch$n" master br-ul up
		ip netns exec "$ns" ip link set ul0 up
	fi
	if ! pid_alive "$d/ovsdb-server.pid"; then
		[ -f "$d/conf.db" ] || ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema
		env $(ch_env "$n") ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" \
			--pidfile="$d/ovsdb-server.pid" --unixctl="$d/ovsdb-server.ctl" \
			--log-file="$d/ovsdb-server.log" -vconsole:off --detach --no-chdir 2>>"$d/start.err"
		ch_vsctl "$n" --no-wait init
		ch_vsctl "$n" --no-wait set open_vswitch . \
			external_ids:system-id="ch$n" external_ids:hostname="$(ch_hostname "$n")" \
			external_ids:ovn-remote="unix:$SB_SOCK" external_ids:ovn-encap-type=geneve \
			external_ids:ovn-encap-ip="$ENCAP_NET.$n" external_ids:ovn-bridge-datapath-type=netdev \
			external_ids:ovn-monitor-all=true
		ch_vsctl "$n" --no-wait -- --may-exist add-br br-phys \
			-- set bridge br-phys datapath_type=netdev other-config:hwaddr="$(ch_mac "$n")" \
			-- --may-exist add-port br-phys ul0
	fi
}

chassis_start() { # N: vswitchd + runtime state + ovn-controller
	local n=$1 d ns=$NS_PREFIX$1 m
	d=$(chdir_of "$n")
	if ! pid_alive "$d/ovs-vswitchd.pid"; then
		rm -f "$d/ovs-vswitchd.ctl"
		ip netns exec "$ns" env $(ch_env "$n") ovs-vswitchd "unix:$d/db.sock" \
			--pidfile="$d/ovs-vswitchd.pid" --unixctl="$d/ovs-vswitchd.ctl" \
			--log-file="$d/ovs-vswitchd.log" -vconsole:off --detach --no-chdir 2>>"$d/start.err"
	fi
	wait_for 20 "br-phys tap in $ns" ip netns exec "$ns" ip link show br-phys
	ip netns exec "$ns" ip addr replace "$ENCAP_NET.$n/24" dev br-phys
	ip netns exec "$ns" ip link set br-phys up
	for m in $(seq $NCH); do
		[ "$m" = "$n" ] && continue
		ch_appctl "$n" ovs-vswitchd tnl/neigh/set br-phys "$ENCAP_NET.$m" "$(ch_mac "$m")" >/dev/null
	done
	if ! pid_alive "$d/ovn-controller.pid"; then
		rm -f "$d/ovn-controller.ctl"
		ip netns exec "$ns" env $(ch_env "$n") ovn-controller "unix:$d/db.sock" \
			--pidfile="$d/ovn-controller.pid" \
			--log-file="$d/ovn-controller.log" -vconsole:off --detach --no-chdir 2>>"$d/start.err"
		# ovn-controller 23.03 has no --unixctl: point a stable name at its socket.
		ln -sf "$d/ovn-controller.$(cat "$d/ovn-controller.pid").ctl" "$d/ovn-controller.ctl"
	fi
}

chassis_kill() { # N: what a dead host looks like: kill -9 vswitchd and ovn-controller
	local d; d=$(chdir_of "$1")
	local p
	for p in ovs-vswitchd ovn-controller; do
		if [ -f "$d/$p.pid" ]; then kill -KILL "$(cat "$d/$p.pid")" 2>/dev/null || true; rm -f "$d/$p.pid"; fi
	done
}

chassis_stop() { # N: graceful; ovn-controller deletes its Chassis rows
	local n=$1 d; d=$(chdir_of "$n")
	if pid_alive "$d/ovn-controller.pid"; then
		ch_appctl "$n" ovn-controller exit >/dev/null 2>&1 || true
		local i; for i in $(seq 100); do pid_alive "$d/ovn-controller.pid" || break; sleep 0.1; done
	fi
	stop_pidfile "$d/ovn-controller.pid"
	stop_pidfile "$d/ovs-vswitchd.pid"
}

# --- LXD --------------------------------------------------------------------
lxc_tb() { LXD_DIR=$LXD_DIR_TB lxc "$@"; }

lxd_start() {
	mkdir -p "$LXD_DIR_TB"
	if ! pid_alive "$LXD_DIR_TB/lxd.pid"; then
		# setsid: LXD must outlive this script; its ovs-vsctl calls reach chassis 1.
		ip netns exec "$NS_LXD" env LXD_DIR="$LXD_DIR_TB" $(ch_env 1) \
			setsid lxd --group root --logfile "$LXD_DIR_TB/lxd.log" \
			</dev/null >>"$LXD_DIR_TB/lxd.out" 2>&1 &
		echo $! >"$LXD_DIR_TB/lxd.pid"
	fi
	LXD_DIR=$LXD_DIR_TB timeout 90 lxd waitready --timeout 80 || die "LXD did not become ready (see $LXD_DIR_TB/lxd.log)"
}

lxd_stop() {
	pid_alive "$LXD_DIR_TB/lxd.pid" || { rm -f "$LXD_DIR_TB/lxd.pid"; return 0; }
	# SIGTERM: LXD stops its API and networks but leaves OVN rows and instances alone.
	stop_pidfile "$LXD_DIR_TB/lxd.pid" TERM
}

lxd_configure() {
	lxc_tb config set network.ovn.northbound_connection "unix:$NB_SOCK"
	if ! lxc_tb network show br0 >/dev/null 2>&1; then
		lxc_tb network create br0 ipv4.address=$UPLINK_ADDR ipv6.address=none ipv4.nat=false \
			ipv4.dhcp.ranges=10.99.0.10-10.99.0.50 ipv4.ovn.ranges=10.99.0.100-10.99.0.254 \
			ipv4.routes=$LISTEN_RANGE,$LISTEN_RANGE2,10.10.10.0/24 >/dev/null
	fi
	if ! lxc_tb network show ovn0 >/dev/null 2>&1; then
		lxc_tb network create ovn0 --type=ovn network=br0 ipv4.address=$OVN_SUBNET \
			ipv4.nat=false ipv6.address=none >/dev/null
	fi
	# Chassis 2 and 3 stand in for the other cluster members.
	local grp n prio
	grp=$(ovn-nbctl --db="unix:$NB_SOCK" --bare --columns=name find HA_Chassis_Group | grep -E '^lxd-net[0-9]+$' | head -n1)
	[ -n "$grp" ] || die "LXD created no HA chassis group"
	for n in 2 3; do
		prio=$((1000 * (4 - n)))
		ovn-nbctl --db="unix:$NB_SOCK" ha-chassis-group-add-chassis "$grp" "ch$n" "$prio"
	done
}

# --- env file -----------------------------------------------------------------
write_env() {
	local grp ext_ip
	grp=$(ovn-nbctl --db="unix:$NB_SOCK" --bare --columns=name find HA_Chassis_Group | grep -E '^lxd-net[0-9]+$' | head -n1)
	cat >"$STATE/env" <<EOF
# Written by integration/testbed.sh up; read by tests and the demo.
TB_STATE=$STATE
TB_SCRIPT=$HERE/testbed.sh
TB_LOCK=$LOCK
LXD_DIR=$LXD_DIR_TB
OVNFWD_LXD=$LXD_DIR_TB/unix.socket
OVNFWD_NB=unix:$NB_SOCK
OVNFWD_SB=unix:$SB_SOCK
TB_NB_SOCK=$NB_SOCK
TB_SB_SOCK=$SB_SOCK
TB_CHASSIS="$(for n in $(seq $NCH); do printf 'ch%s ' "$n"; done | sed 's/ $//')"
$(for n in $(seq $NCH); do
	d=$(chdir_of "$n")
	echo "TB_CH${n}_DIR=$d"
	echo "TB_CH${n}_NETNS=$NS_PREFIX$n"
	echo "TB_CH${n}_OVS_DB=unix:$d/db.sock"
	echo "TB_CH${n}_VSWITCHD_CTL=$d/ovs-vswitchd.ctl"
	echo "TB_CH${n}_CONTROLLER_CTL=$d/ovn-controller.ctl"
done)
TB_LXD_NETNS=$NS_LXD
TB_UNDERLAY_NETNS=$NS_UL
TB_UPLINK=br0
TB_NETWORK=ovn0
TB_HA_GROUP=$grp
TB_LISTEN_RANGE=$LISTEN_RANGE
TB_LISTEN_RANGE2=$LISTEN_RANGE2
TB_BFD_MS=$BFD_MS
EOF
}

# A bed whose processes were killed without `down` (a stopped session, a
# crashed CI run) leaves its namespaces, bridges and LXD's interfaces
# behind; with no state of ours here, remove them before starting anew.
clean_stale() {
	[ -f "$STATE/env" ] && return 0
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^($NS_UL|$NS_PREFIX[0-9]+)\$" || true); do
		log "removing stale namespace $ns"
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
		ip netns del "$ns" || true
	done
}

cmd_up() {
	[ "$(id -u)" = 0 ] || die "the test bed needs root (network namespaces, OVS)"
	local t0=$SECONDS
	cmd_install
	clean_stale
	mkdir -p "$STATE"
	central_up
	underlay_up
	local n
	for n in $(seq $NCH); do chassis_create "$n"; done
	for n in $(seq $NCH); do chassis_start "$n"; done
	wait_for 30 "3 chassis in SB" sh -c "[ \$(ovn-sbctl --db=unix:$SB_SOCK --bare --columns=name list Chassis | grep -c .) -ge $NCH ]"
	lxd_start
	lxd_configure
	write_env
	# The gateway is real only when someone claims it (BFD up between gateways).
	wait_for 60 "a chassis to claim the gateway port" sh -c \
		"ovn-sbctl --db=unix:$SB_SOCK --bare --columns=chassis find Port_Binding type=chassisredirect | grep -q ."
	log "up in $((SECONDS - t0))s; env: $STATE/env"
}

cmd_down() {
	[ -d "$STATE" ] || { log "nothing to stop"; return 0; }
	lxd_stop
	local n ns
	for n in $(seq $NCH); do
		local d; d=$(chdir_of "$n")
		stop_pidfile "$d/ovn-controller.pid"
		stop_pidfile "$d/ovs-vswitchd.pid"
		stop_pidfile "$d/ovsdb-server.pid"
	done
	stop_pidfile "$CENTRAL/northd.pid"
	stop_pidfile "$CENTRAL/nb.pid"
	stop_pidfile "$CENTRAL/sb.pid"
	[ -f "$STATE/bird.pid" ] && stop_pidfile "$STATE/bird.pid"
	# dnsmasq and friends started by LXD live in its namespace: end them with it.
	for ns in $NS_UL $(for n in $(seq $NCH); do echo "$NS_PREFIX$n"; done); do
		if ip netns list | grep -qw "^$ns"; then
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
			ip netns del "$ns"
		fi
	done
	# LXD mounts its shmounts/devlxd under its dir.
	grep -o " $STATE[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$STATE"
	log "down"
}

cmd_status() {
	[ -f "$STATE/env" ] || { echo "test bed: down"; return 1; }
	local ok=0 f
	printf '%-28s %s\n' "daemon" "state"
	for f in "$CENTRAL/nb.pid" "$CENTRAL/sb.pid" "$CENTRAL/northd.pid" \
		$(for n in $(seq $NCH); do d=$(chdir_of "$n"); echo "$d/ovsdb-server.pid $d/ovs-vswitchd.pid $d/ovn-controller.pid"; done) \
		"$LXD_DIR_TB/lxd.pid"; do
		if pid_alive "$f"; then s="running ($(cat "$f"))"; else s="DOWN"; ok=1; fi
		printf '%-28s %s\n' "${f#$STATE/}" "$s"
	done
	echo
	echo "gateway claims (SB Port_Binding type=chassisredirect):"
	ovn-sbctl --db="unix:$SB_SOCK" --timeout=5 --columns=logical_port,chassis find Port_Binding type=chassisredirect || ok=1
	echo "chassis:"
	ovn-sbctl --db="unix:$SB_SOCK" --timeout=5 --bare --columns=name,nb_cfg list Chassis_Private | paste - - - | sed 's/^/  /' || ok=1
	return $ok
}

main() {
	local c=${1:-}; shift || true
	case "$c" in
	up | down)
		if [ -z "${TB_LOCKED:-}" ]; then
			# flock -o: the lock is the flock process's alone, so the
			# daemons up starts do not inherit it.
			mkdir -p "$(dirname "$LOCK")"
			log "waiting for the test bed lock $LOCK"
			TB_LOCKED=1 exec flock -o -w 1800 "$LOCK" bash "$0" "$c" "$@"
		fi
		;;
	esac
	case "$c" in
	install) cmd_install ;;
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	chassis-kill) chassis_kill "$1" ;;
	chassis-stop) chassis_stop "$1" ;;
	chassis-start) chassis_start "$1" ;;
	underlay-cut) ip netns exec "$NS_UL" ip link set "ul-ch$1" down ;;
	underlay-restore) ip netns exec "$NS_UL" ip link set "ul-ch$1" up ;;
	lxd-stop) lxd_stop ;;
	lxd-start) lxd_start ;;
	nb-kill)
		# Wait until it is gone: its lock on nb.db lasts as long as it does
		# (a test edits the file offline next).
		p=$(cat "$CENTRAL/nb.pid")
		kill -KILL "$p"
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		rm -f "$CENTRAL/nb.pid"
		;;
	nb-start) central_up ;;
	northd-stop) stop_pidfile "$CENTRAL/northd.pid" ;;
	northd-start) northd_up ;;
	bird-up) bird_up ;;
	bird-down) bird_down ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
}

# --- BIRD: the uplink router of the route-state tests ------------------------
# bird-up | bird-down. BIRD 2 runs in the root namespace but only on loopback:
# it listens on 127.0.0.1:$BIRD_PORT (strict bind) and accepts BGP from
# 127.0.0.11/12/13 — one ovnfwd instance per chassis ch1..ch3, standing in for
# the cluster members. It has no kernel protocol: received routes stay in
# BIRD's tables (read them with birdc), nothing is installed anywhere.
BIRD_DIR=$STATE/bird
BIRD_PORT=${TB_BIRD_PORT:-1179}
BIRD_ASN=65000
BIRD_PEER_ASN=65101

bird_conf() {
	local n
	cat <<EOF
# Written by testbed.sh bird-up.
router id 127.0.0.1;
log "$BIRD_DIR/bird.log" all;
protocol device { scan time 60; }
template bgp ovnfwd {
	local 127.0.0.1 port $BIRD_PORT as $BIRD_ASN;
	strict bind on;
	passive on;
	# The routes' next hops (OVN router uplink addresses) are not on a
	# local link: keep them as attributes instead of refusing the routes.
	multihop;
	hold time 3;
	keepalive time 1;
	# Accept a peer again at once after a failure (default: 60-300 s).
	error wait time 1, 2;
	ipv4 { import all; export none; };
	ipv6 { import all; export none; };
}
EOF
	for n in $(seq $NCH); do
		echo "protocol bgp ovnfwd_ch$n from ovnfwd { neighbor 127.0.0.1$n as $BIRD_PEER_ASN; }"
	done
}

bird_up() {
	mkdir -p "$BIRD_DIR"
	bird_conf >"$BIRD_DIR/bird.conf.new"
	bird -p -c "$BIRD_DIR/bird.conf.new" || die "invalid BIRD config $BIRD_DIR/bird.conf.new"
	mv "$BIRD_DIR/bird.conf.new" "$BIRD_DIR/bird.conf"
	if pid_alive "$STATE/bird.pid"; then
		birdc -s "$BIRD_DIR/bird.ctl" configure "\"$BIRD_DIR/bird.conf\"" >/dev/null
	else
		rm -f "$BIRD_DIR/bird.ctl"
		bird -c "$BIRD_DIR/bird.conf" -s "$BIRD_DIR/bird.ctl" -P "$STATE/bird.pid" </dev/null >>"$BIRD_DIR/bird.out" 2>&1
	fi
	wait_for 10 "BIRD's control socket" birdc -s "$BIRD_DIR/bird.ctl" show status
	cat >"$BIRD_DIR/env" <<EOF
# Written by testbed.sh bird-up; read by the route-state tests.
TB_BIRD_SOCKET=$BIRD_DIR/bird.ctl
TB_BIRD_ADDRESS=127.0.0.1
TB_BIRD_PORT=$BIRD_PORT
TB_BIRD_ASN=$BIRD_ASN
TB_BIRD_PEER_ASN=$BIRD_PEER_ASN
TB_BIRD_PEERS="$(for n in $(seq $NCH); do printf '127.0.0.1%s ' "$n"; done | sed 's/ $//')"
EOF
	log "BIRD up on 127.0.0.1:$BIRD_PORT; env: $BIRD_DIR/env"
}

bird_down() {
	stop_pidfile "$STATE/bird.pid"
	rm -f "$BIRD_DIR/bird.ctl" "$BIRD_DIR/env"
}

main "$@"
