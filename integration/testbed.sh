#!/usr/bin/env bash
# ovnfwd test bed: real OVN 23.03 central + 3 chassis with BFD-driven gateway
# failover + real LXD 5.0.2, all on one machine, all in private network
# namespaces. Nothing is added to the root network namespace.
#
# Two modes (TB_MODE, fixed at `up` and kept in the state dir):
#   single (default)  one unclustered LXD in chassis 1's namespace, bridge
#                     uplink br0; chassis 2 and 3 are added to LXD's HA group
#                     by hand, standing in for other members.
#   cluster           a three-member LXD cluster (m1 m2 m3, one daemon per
#                     chassis namespace, cluster addresses = underlay IPs),
#                     physical uplink UPLINK on a shared segment (br-upl)
#                     with a router namespace (10.99.0.1) and a client
#                     namespace (10.99.0.2); real containers (busybox image
#                     `bb`) and traffic through forwards.
# Two stack choices (fixed at `up` too):
#   TB_STACK=lxd (default) | incus   LXD 5.0.2, or Incus 6.0 LTS from Debian's
#                     bookworm-backports (either mode; `incus` for `lxc`; the
#                     Incus cluster: see cluster_form for what differs)
#   TB_OVN=23.03 (default) | 25.03   OVN/OVS daemons of Debian 12, or Debian
#                     trixie's OVN 25.03 + OVS 3.5 from a debootstrap root
#                     cached in integration/.testbed-cache/trixie
# and the OVN central (TB_CENTRAL, fixed at `up` too):
#   single (default)  one NB and one SB ovsdb-server on unix sockets
#   raft              NB and SB each a 3-member OVSDB Raft cluster (members
#                     1..3; Raft on tcp:127.0.0.1, loopback only), every
#                     member on its own unix socket and on pssl:PORT:127.0.0.1
#                     with certificates from the bed's own CA (CN only, no
#                     SAN, as MicroOVN issues them; $TB_STATE/pki); northd,
#                     the chassis and LXD use every member's unix socket,
#                     ovnfwd (the env file) the three ssl: endpoints. Single
#                     mode (TB_MODE=single) only. Ports: TB_RAFT_PORT_BASE
#                     (default 16640): NB Raft +1..3, NB ssl +11..13, SB Raft
#                     +21..23, SB ssl +31..33. Election timer:
#                     TB_RAFT_ELECTION_TIMER (default 4000 ms, see below).
#
#   testbed.sh up | down | status | install
#   testbed.sh chassis-kill N      kill -9 ovs-vswitchd + ovn-controller of chassis N
#   testbed.sh chassis-stop N      graceful ovn-controller exit (deletes its SB rows) + vswitchd stop
#   testbed.sh chassis-start N     (re)start chassis N and re-apply its runtime state
#   testbed.sh controller-stop N   graceful ovn-controller exit only (its SB rows go;
#                                  OVS, hence the underlay and LXD's cluster link, stay)
#   testbed.sh underlay-cut N | underlay-restore N   take chassis N's underlay link down/up
#   testbed.sh lxd-stop | lxd-start      the LXD daemon (cluster: every member)
#   testbed.sh nb-kill | nb-start   kill -9 / restart the NB ovsdb-server (raft: every member)
#   testbed.sh sb-kill | sb-start   kill -9 / restart the SB ovsdb-server (raft: every member)
#   testbed.sh northd-stop | northd-start
#   testbed.sh fixup               apply the userspace-datapath fixups once (see fixer_pass)
# cluster mode only:
#   testbed.sh member-stop N | member-start N    one LXD daemon (member mN)
#   testbed.sh lxc-on N ARGS...    lxc against member N, inside its namespace
#   testbed.sh launch NAME MEMBER  launch image bb on ovn0 on member MEMBER (m2 or 2),
#                                  wait for its IPv4 address (printed), apply fixups
#   testbed.sh client CMD...       run CMD in the client namespace
#   testbed.sh router CMD...       run CMD in the router namespace
# raft central only (nb-* and sb-* alike):
#   testbed.sh nb-leader           print the number (1..3) of the NB leader
#                                  (from cluster/status; waits up to 15 s for one)
#   testbed.sh nb-kill-leader      kill -9 the NB leader; print its number
#   testbed.sh nb-member-kill N    kill -9 NB member N
#   testbed.sh nb-member-start N   (re)start NB member N; wait until it is back in the cluster
#   testbed.sh nb-election-timer [MS]   print / change the cluster's election timer
#                                  (the bed's: TB_RAFT_ELECTION_TIMER, default 4000)
#
# State lives in integration/.testbed (override with TB_STATE); it holds
# every pid this script started, so `down` stops exactly those. TB_NS
# (default ovnfwd) prefixes every namespace name ($TB_NS-ul, $TB_NS-ch1...),
# so two beds with different TB_NS, TB_STATE and OVNFWD_TESTBED_LOCK can run
# side by side; TB_NS, TB_MODE, TB_STACK, TB_OVN, TB_CENTRAL (and
# TB_BIRD_PORT, TB_RAFT_PORT_BASE when given) are saved in the state dir at
# `up` and read back by every later command (with the lock,
# OVNFWD_TESTBED_LOCK).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${TB_STATE:-$HERE/.testbed}
CACHE=${TB_CACHE:-$HERE/.testbed-cache}   # built images; `down` keeps it

# The bed's identity is the one it was brought up with.
if [ -f "$STATE/bed.conf" ]; then
	saved_ns=$(sed -n 's/^TB_NS=//p' "$STATE/bed.conf")
	saved_mode=$(sed -n 's/^TB_MODE=//p' "$STATE/bed.conf")
	saved_stack=$(sed -n 's/^TB_STACK=//p' "$STATE/bed.conf")
	saved_stack=${saved_stack:-lxd}
	if [ -n "${TB_STACK:-}" ] && [ "$TB_STACK" != "$saved_stack" ]; then
		echo "[testbed] error: the bed in $STATE runs $saved_stack, not $TB_STACK (down it first)" >&2; exit 1
	fi
	TB_STACK=$saved_stack
	saved_ovn=$(sed -n 's/^TB_OVN=//p' "$STATE/bed.conf")
	saved_ovn=${saved_ovn:-23.03}
	if [ -n "${TB_OVN:-}" ] && [ "$TB_OVN" != "$saved_ovn" ]; then
		echo "[testbed] error: the bed in $STATE runs OVN $saved_ovn, not $TB_OVN (down it first)" >&2; exit 1
	fi
	TB_OVN=$saved_ovn
	if [ -n "${TB_NS:-}" ] && [ "$TB_NS" != "$saved_ns" ]; then
		echo "[testbed] error: the bed in $STATE runs with TB_NS=$saved_ns, not $TB_NS" >&2; exit 1
	fi
	if [ -n "${TB_MODE:-}" ] && [ "$TB_MODE" != "$saved_mode" ]; then
		echo "[testbed] error: the bed in $STATE runs in mode $saved_mode, not $TB_MODE (down it first)" >&2; exit 1
	fi
	saved_lock=$(sed -n 's/^TB_LOCK=//p' "$STATE/bed.conf")
	if [ -n "${OVNFWD_TESTBED_LOCK:-}" ] && [ -n "$saved_lock" ] && [ "$OVNFWD_TESTBED_LOCK" != "$saved_lock" ]; then
		echo "[testbed] error: the bed in $STATE uses the lock $saved_lock, not $OVNFWD_TESTBED_LOCK" >&2; exit 1
	fi
	saved_central=$(sed -n 's/^TB_CENTRAL=//p' "$STATE/bed.conf")
	saved_central=${saved_central:-single}
	if [ -n "${TB_CENTRAL:-}" ] && [ "$TB_CENTRAL" != "$saved_central" ]; then
		echo "[testbed] error: the bed in $STATE runs the $saved_central OVN central, not $TB_CENTRAL (down it first)" >&2; exit 1
	fi
	TB_CENTRAL=$saved_central
	for v in TB_BIRD_PORT TB_RAFT_PORT_BASE TB_RAFT_ELECTION_TIMER; do
		saved=$(sed -n "s/^$v=//p" "$STATE/bed.conf")
		if [ -n "$saved" ]; then printf -v "$v" '%s' "$saved"; fi
	done
	TB_NS=$saved_ns TB_MODE=$saved_mode OVNFWD_TESTBED_LOCK=${saved_lock:-${OVNFWD_TESTBED_LOCK:-}}
	[ -n "$OVNFWD_TESTBED_LOCK" ] || unset OVNFWD_TESTBED_LOCK
fi
TB_NS=${TB_NS:-ovnfwd}
TB_MODE=${TB_MODE:-single}
case "$TB_MODE" in single | cluster) ;; *) echo "[testbed] error: TB_MODE must be single or cluster" >&2; exit 2 ;; esac
# The OVN central (TB_CENTRAL, fixed at `up`): single (one NB and one SB
# ovsdb-server) or raft (3-member clusters over ssl, single mode only).
TB_CENTRAL=${TB_CENTRAL:-single}
case "$TB_CENTRAL" in
single) ;;
raft) [ "$TB_MODE" = single ] || { echo "[testbed] error: TB_CENTRAL=raft runs in single mode only (TB_MODE=single), not with TB_MODE=$TB_MODE" >&2; exit 2; } ;;
*) echo "[testbed] error: TB_CENTRAL must be single or raft" >&2; exit 2 ;;
esac
# The stack (TB_STACK, fixed at `up` like TB_MODE): lxd (LXD 5.0.2, Debian
# 12) or incus (Incus 6.0 LTS from bookworm-backports; single or cluster).
TB_STACK=${TB_STACK:-lxd}
case "$TB_STACK" in
lxd)
	DAEMON=(lxd --group root) CLI=lxc DIR_VAR=LXD_DIR OVN_PREFIX=lxd-net STACK_NAME=LXD
	waitready() { LXD_DIR=$1 timeout 130 lxd waitready --timeout 120; }
	;;
incus)
	# incusd is not on PATH (Debian keeps it in /usr/libexec).
	DAEMON=(/usr/libexec/incus/incusd --group root) CLI=incus DIR_VAR=INCUS_DIR OVN_PREFIX=incus-net STACK_NAME=Incus
	waitready() { INCUS_DIR=$1 timeout 130 incus admin waitready --timeout 120; }
	;;
*) echo "[testbed] error: TB_STACK must be lxd or incus" >&2; exit 2 ;;
esac
# The OVN and OVS daemons (TB_OVN, fixed at `up`): 23.03 (Debian 12's OVN
# 23.03 and OVS 3.1) or 25.03 (Debian trixie's OVN 25.03 and OVS 3.5, from
# a trixie root made with debootstrap and cached in $CACHE/trixie). The
# 25.03 daemons run through trixie's own dynamic loader and libraries, so
# they see the same files, sockets and namespaces as the 23.03 ones; the
# clients (ovn-nbctl, ovs-vsctl, ...) stay Debian 12's: OVSDB clients
# ignore columns newer servers add.
TB_OVN=${TB_OVN:-23.03}
TRIXIE=$CACHE/trixie
case "$TB_OVN" in
23.03) OVN_SHARE=/usr/share/ovn OVS_SHARE=/usr/share/openvswitch ;;
25.03) OVN_SHARE=$TRIXIE/usr/share/ovn OVS_SHARE=$TRIXIE/usr/share/openvswitch ;;
*) echo "[testbed] error: TB_OVN must be 23.03 or 25.03" >&2; exit 2 ;;
esac
# ovn_cmd PROGRAM: the words that run an OVN/OVS daemon (or ovsdb-tool) of
# the bed's OVN, used unquoted: $(ovn_cmd ovs-vswitchd) ARGS...
ovn_cmd() {
	if [ "$TB_OVN" = 23.03 ]; then echo "$1"; return; fi
	local bin=$TRIXIE/usr/sbin/$1
	[ -x "$bin" ] || bin=$TRIXIE/usr/bin/$1
	echo "$TRIXIE/lib64/ld-linux-x86-64.so.2 --library-path $TRIXIE/lib/x86_64-linux-gnu:$TRIXIE/usr/lib/x86_64-linux-gnu $bin"
}

NCH=3
NS_UL=$TB_NS-ul
NS_PREFIX=$TB_NS-ch
NS_LXD=${NS_PREFIX}1          # LXD (cluster: member 1) shares chassis 1's namespace (its local OVS)
NS_RT=$TB_NS-rt               # cluster: the uplink router
NS_CL=$TB_NS-cl               # cluster: a client on the uplink
ENCAP_NET=172.31.250
BFD_MS=${TB_BFD_MS:-300}      # BFD min-rx/min-tx; mult 3 -> ~0.9 s detection
LISTEN_RANGE=198.51.100.0/24
LISTEN_RANGE2=198.18.0.0/16
OVN_SUBNET=10.10.10.1/24
UPLINK_ADDR=10.99.0.1/24
UPLINK_GW=10.99.0.1
CLIENT_ADDR=10.99.0.2
ROUTER_UL_ADDR=$ENCAP_NET.254
UPLINK_OVN_RANGE=10.99.0.100-10.99.0.254
IMAGE=bb

# One bed per lock (its namespaces are global): up, down and every test
# run take this lock, whichever checkout they run from.
LOCK=${OVNFWD_TESTBED_LOCK:-/run/lock/ovnfwd-testbed.lock}

CENTRAL=$STATE/central
# single: one server per database in $CENTRAL. raft: member N of each
# database in $CENTRAL/mN (nb.db, nb.sock, nb.ctl, nb.pid, nb.log and the
# same for sb: ovnfwd derives mN/sb.sock from mN/nb.sock, as from an LXD
# configured with the NB sockets); NB_SOCK/SB_SOCK are member 1's.
# NB_DB/SB_DB: what the bed's own tools, northd, the chassis and LXD use
# (raft: every member's unix socket).
NMEM=3
PKI=$STATE/pki
RAFT_BASE=${TB_RAFT_PORT_BASE:-16640}
# The clusters' election timer (ms). OVN's default is 1000; on this bed's
# shared 2-core machine a member processing a 500-row transaction stalls
# its loop for 1.1-2.1 s (measured), which with 1000 started elections in
# the middle of the suite's big repairs. Tests that measure failover set
# OVN's default for their own duration (nb-election-timer 1000).
ELECTION_TIMER=${TB_RAFT_ELECTION_TIMER:-4000}
member_dir() { echo "$CENTRAL/m$1"; }
raft_port() { # nb|sb N
	case "$1" in nb) echo $((RAFT_BASE + $2)) ;; sb) echo $((RAFT_BASE + 20 + $2)) ;; esac
}
ssl_port() { # nb|sb N
	case "$1" in nb) echo $((RAFT_BASE + 10 + $2)) ;; sb) echo $((RAFT_BASE + 30 + $2)) ;; esac
}
db_name() { case "$1" in nb) echo OVN_Northbound ;; sb) echo OVN_Southbound ;; esac; }
if [ "$TB_CENTRAL" = raft ]; then
	NB_SOCK=$CENTRAL/m1/nb.sock
	SB_SOCK=$CENTRAL/m1/sb.sock
	NB_DB=$(for n in $(seq $NMEM); do printf 'unix:%s/m%s/nb.sock,' "$CENTRAL" "$n"; done | sed 's/,$//')
	SB_DB=$(for n in $(seq $NMEM); do printf 'unix:%s/m%s/sb.sock,' "$CENTRAL" "$n"; done | sed 's/,$//')
else
	NB_SOCK=$CENTRAL/nb.sock
	SB_SOCK=$CENTRAL/sb.sock
	NB_DB=unix:$NB_SOCK
	SB_DB=unix:$SB_SOCK
fi

log() { printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] error: %s\n' "$*" >&2; exit 1; }

# A process counts as gone once it is a zombie: here PID 1 reaps orphans
# only every ~2 s, and `kill -0` succeeds on a zombie.
proc_alive() { # pid
	local st
	kill -0 "$1" 2>/dev/null || return 1
	read -r st <"/proc/$1/stat" 2>/dev/null || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

pid_alive() { [ -f "$1" ] && proc_alive "$(cat "$1")"; }

stop_pidfile() { # pidfile [signal] [tenths of a second before SIGKILL]
	local f=$1 sig=${2:-TERM} w=${3:-50} p i
	[ -f "$f" ] || return 0
	p=$(cat "$f")
	if proc_alive "$p"; then
		kill -"$sig" "$p" 2>/dev/null || true
		for i in $(seq "$w"); do proc_alive "$p" || break; sleep 0.1; done
		proc_alive "$p" && kill -KILL "$p" 2>/dev/null || true
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
# single: chassis 1 is LXD's own: like on a real member, its hostname is
# the LXD member (server) name, i.e. this host's name. The others stand in
# for members that LXD does not know.
# cluster: deliberately NOT the member names (m1..m3): whoever pairs members
# with chassis must learn it, not match hostnames.
ch_hostname() {
	if [ "$TB_MODE" = cluster ]; then echo "host-ch$1"
	elif [ "$1" = 1 ]; then hostname
	else echo "ch$1"; fi
}
ch_mac() { printf '02:00:00:00:fa:%02x' "$1"; }

cmd_install() {
	local pkgs="lxd lxd-client ovn-central ovn-host openvswitch-switch nftables iptables dnsmasq-base bird2 iproute2 procps busybox-static ethtool util-linux"
	local missing="" p
	for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"; done
	export DEBIAN_FRONTEND=noninteractive
	if [ "$TB_STACK" = incus ] && ! dpkg-query -W -f='${Status}' incus 2>/dev/null | grep -q 'install ok installed'; then
		# Incus 6.0 LTS is in Debian's bookworm-backports suite; it
		# starts no daemon of its own where systemd does not run.
		if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
			printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
				>/etc/apt/sources.list.d/bookworm-backports.sources
		fi
		log "installing incus (bookworm-backports)"
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends -t bookworm-backports incus >/dev/null
		if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
			systemctl stop incus incus.socket 2>/dev/null || true
		fi
	fi
	if [ "$TB_OVN" = 25.03 ] && [ ! -x "$TRIXIE/usr/bin/ovn-northd" ]; then
		# 83 s and 306 MB on a machine of this kind; kept across `down`.
		command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
		log "making the trixie root for OVN 25.03 in $TRIXIE (debootstrap)"
		rm -rf "$TRIXIE.tmp"
		mkdir -p "$CACHE"
		debootstrap --variant=minbase --include=ovn-central,ovn-host,ovn-common,openvswitch-common,openvswitch-switch \
			trixie "$TRIXIE.tmp" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 ||
			die "debootstrap trixie failed (see $CACHE/debootstrap.log)"
		mv "$TRIXIE.tmp" "$TRIXIE"
	fi
	[ -z "$missing" ] && return 0
	log "installing:$missing"
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
	if [ "$TB_CENTRAL" = raft ]; then
		raft_up
	else for db in nb sb; do
		if ! pid_alive "$CENTRAL/$db.pid"; then
			[ -f "$CENTRAL/$db.db" ] || $(ovn_cmd ovsdb-tool) create "$CENTRAL/$db.db" "$OVN_SHARE/ovn-$db.ovsschema"
			$(ovn_cmd ovsdb-server) "$CENTRAL/$db.db" --remote="punix:$CENTRAL/$db.sock" \
				--pidfile="$CENTRAL/$db.pid" --unixctl="$CENTRAL/$db.ctl" \
				--log-file="$CENTRAL/$db.log" -vconsole:off --detach --no-chdir 2>>"$CENTRAL/start.err"
		fi
	done; fi
	ovn-nbctl --db="$NB_DB" --no-wait init
	ovn-sbctl --db="$SB_DB" init
	ovn-nbctl --db="$NB_DB" --no-wait set NB_Global . \
		options:bfd-min-rx="$BFD_MS" options:bfd-min-tx="$BFD_MS" options:bfd-mult=3
	northd_up
	if [ "$TB_CENTRAL" = raft ]; then northd_wait; fi
}

# --- raft central: PKI and cluster members ----------------------------------
# The bed's own CA and certificates, made the way MicroOVN makes its own: a
# self-signed CA, leaf certificates with a CN only (no subjectAltName: OVN's
# PKIs never put the server's address in them), ECDSA P-256. One server
# certificate per central member (extended key usage serverAuth and
# clientAuth, as a member's certificate also serves it as a client), one
# client certificate (clientAuth) for ovnfwd and the bed's tests.
pki_issue() { # NAME CN EKU: $PKI/NAME.{key,crt}, signed by the bed's CA
	local name=$1 cn=$2 eku=$3
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$PKI/$name.key" -subj "/CN=$cn" 2>>"$PKI/openssl.err" |
		openssl x509 -req -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 8)" -days 3650 \
			-extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' "$eku") \
			-out "$PKI/$name.crt" 2>>"$PKI/openssl.err" || die "openssl: cannot issue $name (see $PKI/openssl.err)"
}

pki_ensure() {
	[ -f "$PKI/client.crt" ] && return 0
	command -v openssl >/dev/null || die "TB_CENTRAL=raft needs openssl"
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		-keyout "$PKI/ca.key" -out "$PKI/ca.crt" -subj "/CN=ovnfwd test bed CA" 2>>"$PKI/openssl.err" ||
		die "openssl: cannot make the CA (see $PKI/openssl.err)"
	local n
	for n in $(seq $NMEM); do pki_issue "central$n" "ovn-central-$n" serverAuth,clientAuth; done
	pki_issue client ovnfwd clientAuth
	log "PKI: CA and certificates in $PKI"
}

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# member_start nb|sb N: member N of the database's cluster (created by
# member 1, joined by the others through member 1's Raft address), on
# punix:mN/DB.sock and pssl:PORT:127.0.0.1; Raft on tcp:127.0.0.1:PORT.
member_start() {
	local db=$1 n=$2 d p
	d=$(member_dir "$n")
	mkdir -p "$d"
	pid_alive "$d/$db.pid" && return 0
	for p in $(raft_port "$db" "$n") $(ssl_port "$db" "$n"); do
		port_free "$p" || die "127.0.0.1:$p (${db} member $n) is in use by another program: pick other ports with TB_RAFT_PORT_BASE"
	done
	if [ ! -f "$d/$db.db" ]; then
		if [ "$n" = 1 ]; then
			$(ovn_cmd ovsdb-tool) --election-timer="$ELECTION_TIMER" create-cluster "$d/$db.db" \
				"$OVN_SHARE/ovn-$db.ovsschema" "tcp:127.0.0.1:$(raft_port "$db" 1)"
		else
			$(ovn_cmd ovsdb-tool) join-cluster "$d/$db.db" "$(db_name "$db")" \
				"tcp:127.0.0.1:$(raft_port "$db" "$n")" "tcp:127.0.0.1:$(raft_port "$db" 1)"
		fi
	fi
	rm -f "$d/$db.ctl"
	$(ovn_cmd ovsdb-server) "$d/$db.db" --remote="punix:$d/$db.sock" --remote="pssl:$(ssl_port "$db" "$n"):127.0.0.1" \
		--private-key="$PKI/central$n.key" --certificate="$PKI/central$n.crt" --ca-cert="$PKI/ca.crt" \
		--pidfile="$d/$db.pid" --unixctl="$d/$db.ctl" \
		--log-file="$d/$db.log" -vconsole:off --detach --no-chdir 2>>"$CENTRAL/start.err" ||
		die "$db member $n did not start (see $d/$db.log, $CENTRAL/start.err)"
}

member_kill() { # nb|sb N: kill -9, wait until it is gone
	local f p
	f="$(member_dir "$2")/$1.pid"
	[ -f "$f" ] || return 0
	p=$(cat "$f")
	kill -KILL "$p" 2>/dev/null || true
	for _ in $(seq 100); do proc_alive "$p" || break; sleep 0.05; done
	rm -f "$f"
}

member_running() { pid_alive "$(member_dir "$2")/$1.pid"; }

# member_status nb|sb N: the member's cluster/status (fails if it does not
# answer within 3 s).
member_status() { ovs-appctl --timeout=3 -t "$(member_dir "$2")/$1.ctl" cluster/status "$(db_name "$1")"; }

# member_settled nb|sb N: N is a member of its cluster and knows the leader.
member_settled() {
	local st
	st=$(member_status "$1" "$2") || return 1
	grep -q '^Status: cluster member' <<<"$st" && ! grep -q '^Leader: unknown' <<<"$st"
}

# cluster_settled nb|sb: every member runs and knows the one leader, and
# the leader lists all members.
cluster_settled() {
	local db=$1 n st leaders=0
	for n in $(seq $NMEM); do
		member_running "$db" "$n" || return 1
		member_settled "$db" "$n" || return 1
		st=$(member_status "$db" "$n") || return 1
		if grep -q '^Role: leader' <<<"$st"; then
			leaders=$((leaders + 1))
			[ "$(sed -n '/^Servers:/,$p' <<<"$st" | grep -c ' at tcp:')" -ge $NMEM ] || return 1
		fi
	done
	[ "$leaders" = 1 ]
}

# raft_leader nb|sb: the number of the member that says it is the leader
# (waits up to 15 s for one).
raft_leader() {
	local db=$1 n
	for _ in $(seq 150); do
		for n in $(seq $NMEM); do
			member_running "$db" "$n" || continue
			if member_status "$db" "$n" 2>/dev/null | grep -q '^Role: leader'; then echo "$n"; return 0; fi
		done
		sleep 0.1
	done
	die "no $db member says it is the leader"
}

# member_start_wait nb|sb N: start member N and wait until it is back in
# the cluster (knows the leader) if enough members run for one, and until
# ovn-northd is back on both leaders.
member_start_wait() {
	local db=$1 n=$2 m up=0
	member_start "$db" "$n"
	for m in $(seq $NMEM); do if member_running "$db" "$m"; then up=$((up + 1)); fi; done
	if [ $((up * 2)) -gt $NMEM ]; then
		wait_for 60 "$db member $n back in the cluster" member_settled "$db" "$n"
		northd_wait
	else
		wait_for 20 "$db member $n's control socket" member_status "$db" "$n"
	fi
}

# northd_wait (raft): ovn-northd, if it runs, is connected to the NB and
# SB leaders and active. After a leader died it retries the members with
# a backoff of 1, 2, 4, 8 s and may find the new leader 15 s later (seen
# here); until then nothing reaches SB (LXD's own ovn-nbctl --wait=sb
# times out), so the bed counts as restored only then.
northd_ready() {
	local c=$CENTRAL/northd.ctl
	[ "$(ovs-appctl --timeout=3 -t "$c" nb-connection-status 2>/dev/null)" = connected ] &&
		[ "$(ovs-appctl --timeout=3 -t "$c" sb-connection-status 2>/dev/null)" = connected ] &&
		ovs-appctl --timeout=3 -t "$c" status 2>/dev/null | grep -q '^Status: active'
}
northd_wait() {
	pid_alive "$CENTRAL/northd.pid" || return 0
	wait_for 60 "ovn-northd connected to the NB and SB leaders" northd_ready
}

raft_up() {
	pki_ensure
	local db n
	for db in nb sb; do
		for n in $(seq $NMEM); do member_start "$db" "$n"; done
	done
	for db in nb sb; do wait_for 60 "the $db cluster ($NMEM members, one leader)" cluster_settled "$db"; done
}

# election_timer nb|sb [MS]: print the cluster's election timer, or change
# it to MS through the leader (an increase goes at most twice the current
# value at a time) and wait until the change is committed.
election_timer() {
	local db=$1 want=${2:-} n cur next
	for _ in $(seq 20); do
		n=$(raft_leader "$db")
		cur=$(member_status "$db" "$n" | sed -n 's/^Election timer: //p')
		if [ -z "$want" ]; then echo "$cur"; return 0; fi
		[ "$cur" = "$want" ] && return 0
		next=$want
		if [ "$want" -gt $((cur * 2)) ]; then next=$((cur * 2)); fi
		ovs-appctl --timeout=5 -t "$(member_dir "$n")/$db.ctl" cluster/change-election-timer "$(db_name "$db")" "$next" >/dev/null ||
			log "$db member $n: cluster/change-election-timer $next failed; retrying"
		for _ in $(seq 50); do
			[ "$(member_status "$db" "$n" 2>/dev/null | sed -n 's/^Election timer: //p')" = "$next" ] && break
			sleep 0.1
		done
	done
	die "the $db election timer did not reach $want ms"
}

need_raft() { [ "$TB_CENTRAL" = raft ] || die "$1 needs the raft central (TB_CENTRAL=raft)"; }

# raft_cmd nb|sb ACTION [N]: the raft-only commands.
raft_cmd() {
	local db=$1 action=$2 n
	need_raft "$db-$action"
	case "$action" in
	leader) raft_leader "$db" ;;
	kill-leader)
		n=$(raft_leader "$db")
		member_kill "$db" "$n"
		echo "$n"
		;;
	member-kill) n=$(member_arg "${3:-}"); member_kill "$db" "$n" ;;
	member-start) n=$(member_arg "${3:-}"); member_start_wait "$db" "$n" ;;
	election-timer) election_timer "$db" "${3:-}" ;;
	esac
}

member_arg() {
	case "$1" in [1-9]) if [ "$1" -le $NMEM ]; then echo "$1"; return 0; fi ;; esac
	die "no central member '$1' (1..$NMEM)"
}

northd_up() {
	pid_alive "$CENTRAL/northd.pid" && return 0
	$(ovn_cmd ovn-northd) --ovnnb-db="$NB_DB" --ovnsb-db="$SB_DB" \
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

# veth_to_bridge NS IFNAME PEER BRIDGE: a veth IFNAME in NS whose peer PEER
# is a port of BRIDGE in the underlay namespace.
veth_to_bridge() {
	local ns=$1 ifn=$2 peer=$3 br=$4
	ip netns exec "$ns" ip link show "$ifn" >/dev/null 2>&1 && return 0
	ip link add "$ifn" netns "$ns" type veth peer name "$peer" netns "$NS_UL"
	ip netns exec "$NS_UL" ip link set "$peer" master "$br" up
	ip netns exec "$ns" ip link set "$ifn" up
}

# Cluster mode: the uplink segment. A second bridge br-upl in the underlay
# namespace; every chassis gets upl0 on it (LXD's physical uplink parent),
# plus a router namespace (10.99.0.1/24 on the segment, the uplink gateway;
# 172.31.250.254/24 on the underlay bridge, to reach the members' underlay
# addresses, e.g. for BGP) and a client namespace (10.99.0.2/24, default
# route via the router). The router has the forward listen ranges on-link on
# the segment (l2proxy: it ARPs for VIPs, OVN answers) and forwards; so the
# client reaches a VIP through the router, and OVN answers it directly.
# Senders into OVS's userspace datapath must not leave TX checksums to the
# NIC: TX offload is off on these veths.
uplink_up() {
	ip netns exec "$NS_UL" ip link show br-upl >/dev/null 2>&1 ||
		ip netns exec "$NS_UL" ip link add br-upl type bridge
	ip netns exec "$NS_UL" ip link set br-upl up
	netns_up "$NS_RT"
	netns_up "$NS_CL"
	veth_to_bridge "$NS_RT" upl0 upl-rt br-upl
	veth_to_bridge "$NS_RT" ul0 ul-rt br-ul
	veth_to_bridge "$NS_CL" upl0 upl-cl br-upl
	ip netns exec "$NS_RT" ip addr replace "$UPLINK_ADDR" dev upl0
	ip netns exec "$NS_RT" ip addr replace "$ROUTER_UL_ADDR/24" dev ul0
	ip netns exec "$NS_RT" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.upl0.send_redirects=0
	ip netns exec "$NS_RT" ip route replace "$LISTEN_RANGE" dev upl0
	ip netns exec "$NS_RT" ip route replace "$LISTEN_RANGE2" dev upl0
	ip netns exec "$NS_CL" ip addr replace "$CLIENT_ADDR/24" dev upl0
	ip netns exec "$NS_CL" ip route replace default via "$UPLINK_GW"
	local ns ifn
	for ns in "$NS_RT:upl0" "$NS_RT:ul0" "$NS_CL:upl0"; do
		ifn=${ns#*:}; ns=${ns%%:*}
		ip netns exec "$ns" ethtool -K "$ifn" tx off >/dev/null 2>&1 || true
	done
}

chassis_create() { # N: namespace, veth, OVS database, static config
	local n=$1 d ns=$NS_PREFIX$1
	d=$(chdir_of "$n")
	mkdir -p "$d"
	netns_up "$ns"
	veth_to_bridge "$ns" ul0 "ul-ch$n" br-ul
	# Cluster: the member's uplink port (LXD's physical uplink parent).
	if [ "$TB_MODE" = cluster ]; then veth_to_bridge "$ns" upl0 "upl-ch$n" br-upl; fi
	if ! pid_alive "$d/ovsdb-server.pid"; then
		[ -f "$d/conf.db" ] || $(ovn_cmd ovsdb-tool) create "$d/conf.db" "$OVS_SHARE/vswitch.ovsschema"
		env $(ch_env "$n") $(ovn_cmd ovsdb-server) "$d/conf.db" --remote="punix:$d/db.sock" \
			--pidfile="$d/ovsdb-server.pid" --unixctl="$d/ovsdb-server.ctl" \
			--log-file="$d/ovsdb-server.log" -vconsole:off --detach --no-chdir 2>>"$d/start.err"
		ch_vsctl "$n" --no-wait init
		ch_vsctl "$n" --no-wait set open_vswitch . \
			external_ids:system-id="ch$n" external_ids:hostname="$(ch_hostname "$n")" \
			external_ids:ovn-remote="\"$SB_DB\"" external_ids:ovn-encap-type=geneve \
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
		ip netns exec "$ns" env $(ch_env "$n") $(ovn_cmd ovs-vswitchd) "unix:$d/db.sock" \
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
		ip netns exec "$ns" env $(ch_env "$n") $(ovn_cmd ovn-controller) "unix:$d/db.sock" \
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

controller_stop() { # N: graceful; ovn-controller deletes its Chassis rows
	local n=$1 d; d=$(chdir_of "$n")
	if pid_alive "$d/ovn-controller.pid"; then
		ch_appctl "$n" ovn-controller exit >/dev/null 2>&1 || true
		local i; for i in $(seq 100); do pid_alive "$d/ovn-controller.pid" || break; sleep 0.1; done
	fi
	stop_pidfile "$d/ovn-controller.pid"
}

chassis_stop() { # N: graceful ovn-controller exit, then vswitchd
	controller_stop "$1"
	stop_pidfile "$(chdir_of "$1")/ovs-vswitchd.pid"
}

# --- LXD --------------------------------------------------------------------
# single: one LXD (N=1) in $STATE/lxd; cluster: member mN in $STATE/lxdN, in
# chassis N's namespace with chassis N's OVS_*/OVN_* dirs (LXD's own
# ovs-vsctl calls reach its local chassis, whose system-id it uses).
lxd_dir_of() { if [ "$TB_MODE" = cluster ]; then echo "$STATE/lxd$1"; else echo "$STATE/lxd"; fi; }
members() { if [ "$TB_MODE" = cluster ]; then seq $NCH; else echo 1; fi; }
member_num() { # m2 | 2 -> 2
	local m=${1#m}
	case "$m" in [1-9]) if [ "$m" -le $NCH ]; then echo "$m"; return 0; fi ;; esac
	die "no member $1 (m1..m$NCH)"
}
# lxc against member N, inside its namespace: a cluster address is only
# reachable there (from the root namespace it would leave the machine).
lxc_on() { local n=$1; shift; ip netns exec "$NS_PREFIX$n" env $DIR_VAR="$(lxd_dir_of "$n")" $CLI "$@"; }
lxc_tb() { lxc_on 1 "$@"; }
LXD_DIR_TB=$(lxd_dir_of 1)

lxd_spawn() { # N: start the daemon, do not wait
	local n=$1 d; d=$(lxd_dir_of "$n")
	mkdir -p "$d"
	pid_alive "$d/lxd.pid" && return 0
	# setsid: LXD must outlive this script.
	ip netns exec "$NS_PREFIX$n" env $DIR_VAR="$d" $(ch_env "$n") \
		setsid "${DAEMON[@]}" --logfile "$d/lxd.log" \
		</dev/null >>"$d/lxd.out" 2>&1 &
	echo $! >"$d/lxd.pid"
}

lxd_start() { # [N]: member N, or every member
	local n d
	# Spawn all before waiting: a cluster member is ready only once the
	# database has a quorum, i.e. once enough of the others run too.
	for n in ${1:-$(members)}; do lxd_spawn "$n"; done
	for n in ${1:-$(members)}; do
		d=$(lxd_dir_of "$n")
		waitready "$d" || die "$CLI daemon $n did not become ready (see $d/lxd.log)"
	done
	# A restarted member shows OFFLINE ("No heartbeat") until the leader's
	# next heartbeat round: wait for it, so callers see a settled cluster.
	if [ "$TB_MODE" = cluster ] && [ -f "$STATE/env" ]; then
		for n in ${1:-$(members)}; do wait_for 60 "m$n ONLINE" member_online "$n"; done
	fi
}

member_online() { lxc_on "$1" cluster list --format csv 2>/dev/null | grep -q "^m$1,.*,ONLINE,"; }

lxd_stop() { # [N] [tenths of a second before SIGKILL]: member N, or every member
	local n d w=${2:-50}
	# SIGTERM: LXD stops its API and networks but leaves OVN rows and
	# instances alone. Members stop in parallel (each may wait for the others).
	for n in ${1:-$(members)}; do
		d=$(lxd_dir_of "$n")
		if pid_alive "$d/lxd.pid"; then stop_pidfile "$d/lxd.pid" TERM "$w" & else rm -f "$d/lxd.pid"; fi
	done
	wait
}

lxd_configure() { # single mode
	if [ "$TB_STACK" = incus ]; then
		# Incus does not follow OVS_RUNDIR for its own OVS connection.
		lxc_tb config set network.ovs.connection "unix:$(chdir_of 1)/db.sock"
	fi
	lxc_tb config set network.ovn.northbound_connection "$NB_DB"
	if ! lxc_tb network show br0 >/dev/null 2>&1; then
		lxc_tb network create br0 ipv4.address=$UPLINK_ADDR ipv6.address=none ipv4.nat=false \
			ipv4.dhcp.ranges=10.99.0.10-10.99.0.50 ipv4.ovn.ranges=$UPLINK_OVN_RANGE \
			ipv4.routes=$LISTEN_RANGE,$LISTEN_RANGE2,10.10.10.0/24 >/dev/null
	fi
	if ! lxc_tb network show ovn0 >/dev/null 2>&1; then
		if [ "$TB_STACK" = incus ]; then
			# Incus makes the uplink's OVS bridge (incusovn<uplink ID>)
			# with the kernel datapath, which this machine lacks, and waits
			# for its interface: have it made with the userspace one first.
			local brid
			brid=$(lxc_tb admin sql global "SELECT id FROM networks WHERE name='br0'" --format csv 2>/dev/null | tail -n1 | tr -dc 0-9)
			[ -n "$brid" ] || die "no network ID for br0"
			ch_vsctl 1 --may-exist add-br "incusovn$brid" -- set bridge "incusovn$brid" datapath_type=netdev
		fi
		lxc_tb network create ovn0 --type=ovn network=br0 ipv4.address=$OVN_SUBNET \
			ipv4.nat=false ipv6.address=none >/dev/null
	fi
	# Chassis 2 and 3 stand in for the other cluster members.
	local grp n prio
	grp=$(ha_group)
	[ -n "$grp" ] || die "LXD created no HA chassis group"
	for n in 2 3; do
		prio=$((1000 * (4 - n)))
		ovn-nbctl --db="$NB_DB" ha-chassis-group-add-chassis "$grp" "ch$n" "$prio"
	done
}

ha_group() { ovn-nbctl --db="$NB_DB" --bare --columns=name find HA_Chassis_Group | grep -E "^$OVN_PREFIX[0-9]+\$" | head -n1 || true; }

# --- cluster mode -------------------------------------------------------------
# TB_STACK=incus clusters the same way (verified with Incus 6.0.4): the
# preseeds are `incus admin init --preseed` with the same keys, `incus
# cluster add mN --quiet` prints only the token, `cluster list` has the same
# ONLINE / "Fully operational" columns, and the daemons' directories keep the
# bed's names (lxdN, lxd.pid, lxd.log). What differs:
#  - Incus ignores OVS_RUNDIR for its own OVS connection, and
#    network.ovs.connection is member-specific: set it on each member to its
#    chassis's db.sock (`config show --target mN` shows each member's own;
#    set once, like the NB connection, it would be member 1's alone).
#  - its uplink OVS bridge is incusovn<UPLINK's network ID> (incusovn1 here;
#    ovn0's rows are incus-net2-*), made with the kernel datapath on every
#    member: pre-made netdev on every chassis before ovn0, as in single
#    mode (Incus waits for the bridge's interface). Instances' host-side veths are
#    vethXXXXXXXX and their monitors "[lxc monitor] <INCUS_DIR>/containers
#    <name>", as with LXD, so the fixer needs nothing else.
#  - incusd logs that it cannot fetch instance types from
#    images.linuxcontainers.org: harmless (the namespaces have no way out).
lxd_preseed() { # N: `lxd init --preseed` (stdin) inside member N's namespace
	if [ "$TB_STACK" = incus ]; then
		ip netns exec "$NS_PREFIX$1" env INCUS_DIR="$(lxd_dir_of "$1")" incus admin init --preseed
		return
	fi
	ip netns exec "$NS_PREFIX$1" env LXD_DIR="$(lxd_dir_of "$1")" lxd init --preseed
}

cluster_form() {
	if ! lxc_on 1 cluster list >/dev/null 2>&1; then
		log "bootstrapping the $STACK_NAME cluster on m1 ($ENCAP_NET.1:8443)"
		lxd_preseed 1 <<EOF
config:
  core.https_address: $ENCAP_NET.1:8443
cluster:
  server_name: m1
  enabled: true
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
EOF
	fi
	local n token
	for n in $(seq 2 $NCH); do
		lxc_on 1 cluster show "m$n" >/dev/null 2>&1 && continue
		log "joining m$n ($ENCAP_NET.$n:8443)"
		lxc_on 1 cluster revoke-token "m$n" >/dev/null 2>&1 || true
		token=$(lxc_on 1 cluster add "m$n" --quiet | grep . | tail -n1)
		[ -n "$token" ] || die "no join token for m$n"
		# The join runs inside the joining member's namespace (it reaches
		# m1's cluster address from there).
		lxd_preseed "$n" <<EOF
cluster:
  enabled: true
  server_name: m$n
  server_address: $ENCAP_NET.$n:8443
  cluster_token: $token
  member_config:
  - entity: storage-pool
    name: default
    key: source
    value: ""
EOF
	done
	if [ "$TB_STACK" = incus ]; then
		# Incus does not follow OVS_RUNDIR for its own OVS connection, and
		# network.ovs.connection is member-specific: each member its own
		# chassis's OVS (set on the member itself).
		for n in $(seq $NCH); do
			lxc_on "$n" config set network.ovs.connection "unix:$(chdir_of "$n")/db.sock"
		done
	fi
	# Only now: set before the others joined, it stays member 1's own and
	# the others use the default NB socket.
	lxc_on 1 config set network.ovn.northbound_connection "$NB_DB"
}

cluster_networks() {
	local st n
	st=$(lxc_on 1 network show UPLINK 2>/dev/null | awk '/^status:/{print $2}' || true)
	if [ "$st" = Errored ]; then
		# A rejected global config leaves the network ERRORED for good.
		log "UPLINK is Errored: deleting it (and ovn0) to start again"
		lxc_on 1 network delete ovn0 >/dev/null 2>&1 || true
		lxc_on 1 network delete UPLINK >/dev/null
		st=""
	fi
	if [ "$st" != Created ]; then
		for n in $(seq $NCH); do
			lxc_on 1 network create UPLINK --type=physical parent=upl0 --target="m$n" >/dev/null 2>&1 ||
				[ -n "$st" ] || die "cannot define UPLINK on m$n"
		done
		# ipv4.nat=false on ovn0 needs its subnet inside the uplink's routes.
		lxc_on 1 network create UPLINK --type=physical ipv4.gateway=$UPLINK_ADDR \
			ipv4.ovn.ranges=$UPLINK_OVN_RANGE ipv4.routes=$LISTEN_RANGE,$LISTEN_RANGE2,10.10.10.0/24 \
			dns.nameservers=$UPLINK_GW >/dev/null
	fi
	if ! lxc_on 1 network show ovn0 >/dev/null 2>&1; then
		if [ "$TB_STACK" = incus ]; then
			# As in single mode: Incus makes the uplink's OVS bridge
			# (incusovn<UPLINK's ID>) on every member with the kernel
			# datapath and waits for its interface; have it made with the
			# userspace one first, on every chassis.
			local upid
			upid=$(lxc_on 1 admin sql global "SELECT id FROM networks WHERE name='UPLINK'" --format csv 2>/dev/null | tail -n1 | tr -dc 0-9)
			[ -n "$upid" ] || die "no network ID for UPLINK"
			for n in $(seq $NCH); do
				ch_vsctl "$n" --may-exist add-br "incusovn$upid" -- set bridge "incusovn$upid" datapath_type=netdev
			done
		fi
		lxc_on 1 network create ovn0 --type=ovn network=UPLINK ipv4.address=$OVN_SUBNET \
			ipv4.nat=false ipv6.address=none >/dev/null
	fi
	# ovn0 is routed (ipv4.nat=false): the uplink router routes its subnet
	# to the OVN router's uplink address, so the client reaches instances
	# directly too.
	local via
	via=$(lxc_on 1 network get ovn0 volatile.network.ipv4.address)
	[ -n "$via" ] || die "ovn0 has no uplink address"
	ip netns exec "$NS_RT" ip route replace "${OVN_SUBNET%.*}.0/24" via "$via"
}

cluster_online() { [ "$(lxc_on 1 cluster list --format csv 2>/dev/null | grep -c ',ONLINE,')" -ge $NCH ]; }
ha_group_full() {
	local g; g=$(ha_group)
	[ -n "$g" ] && [ "$(ovn-nbctl --db="$NB_DB" --bare --columns=ha_chassis find HA_Chassis_Group name="$g" | wc -w)" -ge $NCH ]
}

# --- the busybox image (cluster mode) -------------------------------------------
image_dir() {
	echo "$CACHE/bb-$(cat "$HERE/image/build-busybox.sh" "$HERE/image/udpecho.go" /bin/busybox | sha256sum | cut -c1-16)"
}

image_ensure() {
	lxc_on 1 image info "$IMAGE" >/dev/null 2>&1 && return 0
	local dir; dir=$(image_dir)
	if [ ! -f "$dir/rootfs.tar.gz" ]; then
		log "building the busybox image into $dir"
		bash "$HERE/image/build-busybox.sh" "$dir" || die "image build failed"
	fi
	lxc_on 1 image import "$dir/meta.tar.gz" "$dir/rootfs.tar.gz" --alias "$IMAGE" >/dev/null
}

# --- userspace-datapath fixups ------------------------------------------------
# No OVS kernel module here, and LXD does not know it:
#  - every OVS bridge LXD creates (its uplink bridge lxdovn<N>) is on the
#    kernel datapath -> datapath_type=netdev, or its patch port to br-int
#    fails ("No usable peer ... in 'netdev' datapath");
#  - veths sending into the userspace datapath must compute their own TX
#    checksums, or TCP through OVN times out -> ethtool -K tx off on every
#    veth of the chassis namespace (instances' host sides, lxdovn<N>a/b,
#    upl0, ul0) and on each running container's eth0 (entered by its init
#    pid: the child of its "[lxc monitor] <LXD_DIR>/containers <name>").
# A pass costs one `ip -o link` and, only when the chassis's OVS database
# file changed since the last look (or every ~10 s), one ovs-vsctl; the
# loop remembers what it fixed (FIXED) and scans /proc for containers only
# for ~5 s after a new veth appeared (an instance starting), while a
# container was not ready yet, and every ~10 s.
declare -A FIXED=()
FIX_PENDING=1 FIX_PASSES=0 FIX_SCAN_LEFT=0
fixer_pass() { # N [all]
	local n=$1 ns=$NS_PREFIX$1 d=$STATE/ch$1 name dp idx key mon pid scan=0
	local db="unix:$d/db.sock"
	FIX_PASSES=$((FIX_PASSES + 1))
	if [ "$d/conf.db" -nt "$d/fixer.dbseen" ] || [ "${2:-}" = all ] || [ $((FIX_PASSES % 20)) = 1 ]; then
		echo "$FIX_PASSES" >"$d/fixer.dbseen"
		while IFS=, read -r name dp; do
			[ -n "$name" ] && [ "$dp" != netdev ] || continue
			if ovs-vsctl --db="$db" --timeout=5 --no-wait set bridge "$name" datapath_type=netdev 2>/dev/null; then
				log "fixer ch$n: bridge $name datapath_type=netdev (was '${dp}')"
			fi
		done < <(ovs-vsctl --db="$db" --timeout=5 --format=csv --data=bare --no-headings --columns=name,datapath_type list Bridge 2>/dev/null || true)
	fi
	while read -r idx name _; do
		idx=${idx%:}; name=${name%:}; name=${name%@*}
		key="v$n:$idx:$name"
		[ -z "${FIXED[$key]:-}" ] || continue
		FIX_SCAN_LEFT=10
		if nsenter --net="/run/netns/$ns" ethtool -K "$name" tx off >/dev/null 2>&1; then
			FIXED[$key]=1
			log "fixer ch$n: veth $name tx off"
		fi
	done < <(ip -n "$ns" -o link show type veth 2>/dev/null || true)
	[ "$TB_MODE" = cluster ] || [ "$n" = 1 ] || return 0
	if [ "$FIX_SCAN_LEFT" -gt 0 ]; then FIX_SCAN_LEFT=$((FIX_SCAN_LEFT - 1)); scan=1; fi
	[ "$scan" = 1 ] || [ "$FIX_PENDING" = 1 ] || [ "${2:-}" = all ] || [ $((FIX_PASSES % 20)) = 0 ] || return 0
	FIX_PENDING=0
	for mon in $(pgrep -f "^\[lxc monitor\] $(lxd_dir_of "$n")/containers " || true); do
		for pid in $(cat /proc/"$mon"/task/*/children 2>/dev/null || true); do
			key="c$n:$pid"
			[ -z "${FIXED[$key]:-}" ] || continue
			if nsenter -t "$pid" -n ethtool -K eth0 tx off >/dev/null 2>&1; then
				FIXED[$key]=1
				log "fixer ch$n: container $(tr '\0' ' ' </proc/"$mon"/cmdline | awk '{print $NF}') (pid $pid) eth0 tx off"
			else
				FIX_PENDING=1
			fi
		done
	done
	return 0
}

fixer_loop() { # N: until the bed's state goes away
	set +e
	local tick
	exec {tick}<> <(:)   # read -t on it: a sleep without a process per pass
	while [ -f "$STATE/bed.conf" ]; do
		fixer_pass "$1"
		read -r -t 0.5 -u "$tick" _
	done
}

fixers_start() {
	local n d
	for n in $(seq $NCH); do
		d=$(chdir_of "$n")
		pid_alive "$d/fixer.pid" && continue
		TB_STATE=$STATE setsid bash "$HERE/testbed.sh" fixer-loop "$n" </dev/null >>"$d/fixer.log" 2>&1 &
		echo $! >"$d/fixer.pid"
	done
}

fixers_stop() { local n; for n in $(seq $NCH); do stop_pidfile "$(chdir_of "$n")/fixer.pid"; done; }

cmd_fixup() { local n; for n in $(seq $NCH); do fixer_pass "$n" all; done; }

# Containers are in their own network namespaces, not the chassis's: end
# them by their init (the monitor then cleans up its cgroups), then their
# monitors.
containers_kill() {
	local mons="" mon p
	mons=$(pgrep -f "^\[lxc monitor\] $STATE/" || true)
	[ -n "$mons" ] || return 0
	for mon in $mons; do
		for p in $(cat /proc/"$mon"/task/*/children 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
	done
	for _ in $(seq 100); do
		p=""; for mon in $mons; do if proc_alive "$mon"; then p=1; fi; done
		[ -n "$p" ] || return 0
		sleep 0.1
	done
	for mon in $mons; do kill -KILL "$mon" 2>/dev/null || true; done
}

cmd_launch() { # NAME MEMBER: launch bb on ovn0 on that member; prints its IPv4 address
	[ "$TB_MODE" = cluster ] || die "launch needs a cluster bed (TB_MODE=cluster)"
	local name=${1:?usage: launch NAME MEMBER} n ip=""
	n=$(member_num "${2:?usage: launch NAME MEMBER}")
	lxc_on "$n" launch "$IMAGE" "$name" --network ovn0 --target "m$n" >/dev/null
	for _ in $(seq 120); do
		fixer_pass "$n" all 2>/dev/null
		ip=$(lxc_on "$n" list "^$name\$" --format csv -c 4 | grep -Eo '^[0-9]+\.[0-9.]+' | head -n1 || true)
		[ -n "$ip" ] && break
		sleep 0.5
	done
	[ -n "$ip" ] || die "instance $name on m$n got no IPv4 address in 60 s"
	fixer_pass "$n" all 2>/dev/null
	echo "$ip"
}

cluster_up() {
	fixers_start
	lxd_start
	cluster_form
	cluster_networks
	image_ensure
	wait_for 120 "all $NCH members ONLINE" cluster_online
	wait_for 60 "all $NCH chassis in LXD's HA group" ha_group_full
}

# --- env file -----------------------------------------------------------------
# env_endpoints nb|sb: ovnfwd's endpoints (raft: every member's ssl:).
env_endpoints() {
	if [ "$TB_CENTRAL" = raft ]; then
		local n; for n in $(seq $NMEM); do printf 'ssl:127.0.0.1:%s,' "$(ssl_port "$1" "$n")"; done | sed 's/,$//'
	elif [ "$1" = nb ]; then echo "unix:$NB_SOCK"
	else echo "unix:$SB_SOCK"; fi
}

write_env() {
	local grp
	grp=$(ha_group)
	cat >"$STATE/env" <<EOF
# Written by integration/testbed.sh up; read by tests and the demo.
TB_MODE=$TB_MODE
TB_STACK=$TB_STACK
TB_OVN=$TB_OVN
TB_CLI=$CLI
TB_DIR_VAR=$DIR_VAR
TB_OVN_PREFIX=$OVN_PREFIX
TB_NS=$TB_NS
TB_STATE=$STATE
TB_SCRIPT=$HERE/testbed.sh
TB_LOCK=$LOCK
LXD_DIR=$LXD_DIR_TB
OVNFWD_LXD=$LXD_DIR_TB/unix.socket
TB_CENTRAL=$TB_CENTRAL
OVNFWD_NB=$(env_endpoints nb)
OVNFWD_SB=$(env_endpoints sb)
TB_NB_SOCK=$NB_SOCK
TB_SB_SOCK=$SB_SOCK
TB_NB_DB=$([ "$TB_CENTRAL" = raft ] && echo "$(member_dir 1)/nb.db" || echo "$CENTRAL/nb.db")
TB_CHASSIS="$(for n in $(seq $NCH); do printf 'ch%s ' "$n"; done | sed 's/ $//')"
$(for n in $(seq $NCH); do
	d=$(chdir_of "$n")
	echo "TB_CH${n}_DIR=$d"
	echo "TB_CH${n}_NETNS=$NS_PREFIX$n"
	echo "TB_CH${n}_HOSTNAME=$(ch_hostname "$n")"
	echo "TB_CH${n}_OVS_DB=unix:$d/db.sock"
	echo "TB_CH${n}_VSWITCHD_CTL=$d/ovs-vswitchd.ctl"
	echo "TB_CH${n}_CONTROLLER_CTL=$d/ovn-controller.ctl"
done)
TB_LXD_NETNS=$NS_LXD
TB_UNDERLAY_NETNS=$NS_UL
TB_UPLINK=$([ "$TB_MODE" = cluster ] && echo UPLINK || echo br0)
TB_NETWORK=ovn0
TB_HA_GROUP=$grp
TB_LISTEN_RANGE=$LISTEN_RANGE
TB_LISTEN_RANGE2=$LISTEN_RANGE2
TB_BFD_MS=$BFD_MS
EOF
	if [ "$TB_CENTRAL" = raft ]; then
		cat >>"$STATE/env" <<EOF
# Raft central: NB and SB are $NMEM-member clusters; ovnfwd reaches them over
# ssl (OVNFWD_NB/SB, with the bed's client certificate), the bed's tools over
# every member's unix socket (TB_NB_UNIX/TB_SB_UNIX). Member N: TB_NBN_*.
OVNFWD_OVN_CA=$PKI/ca.crt
OVNFWD_OVN_CERT=$PKI/client.crt
OVNFWD_OVN_KEY=$PKI/client.key
TB_PKI_DIR=$PKI
TB_CA_CERT=$PKI/ca.crt
TB_CA_KEY=$PKI/ca.key
TB_NB_UNIX=$NB_DB
TB_SB_UNIX=$SB_DB
TB_CENTRAL_MEMBERS=$NMEM
TB_RAFT_ELECTION_TIMER=$ELECTION_TIMER
$(for db in nb sb; do
	DB=$(echo "$db" | tr a-z A-Z)
	for n in $(seq $NMEM); do
		d=$(member_dir "$n")
		echo "TB_$DB${n}_SOCK=$d/$db.sock"
		echo "TB_$DB${n}_SSL=ssl:127.0.0.1:$(ssl_port "$db" "$n")"
		echo "TB_$DB${n}_RAFT=tcp:127.0.0.1:$(raft_port "$db" "$n")"
		echo "TB_$DB${n}_PIDFILE=$d/$db.pid"
		echo "TB_$DB${n}_CTL=$d/$db.ctl"
		echo "TB_$DB${n}_DB=$d/$db.db"
		echo "TB_$DB${n}_LOG=$d/$db.log"
	done
done)
EOF
	fi
	[ "$TB_MODE" = cluster ] || return 0
	cat >>"$STATE/env" <<EOF
# Cluster mode: member mN runs in chassis N's namespace (TB_MN_CHASSIS=chN,
# whose OVS hostname is host-chN, not mN); lxc against it: testbed.sh lxc-on N.
TB_MEMBERS="$(for n in $(seq $NCH); do printf 'm%s ' "$n"; done | sed 's/ $//')"
$(for n in $(seq $NCH); do
	d=$(lxd_dir_of "$n")
	echo "TB_M${n}_LXD_DIR=$d"
	echo "TB_M${n}_SOCKET=$d/unix.socket"
	echo "TB_M${n}_NETNS=$NS_PREFIX$n"
	echo "TB_M${n}_CHASSIS=ch$n"
	echo "TB_M${n}_ADDRESS=$ENCAP_NET.$n:8443"
done)
TB_UPLINK_SEGMENT=br-upl
TB_UPLINK_GATEWAY=$UPLINK_GW
TB_ROUTER_NETNS=$NS_RT
TB_ROUTER_UNDERLAY_ADDR=$ROUTER_UL_ADDR
TB_CLIENT_NETNS=$NS_CL
TB_CLIENT_ADDR=$CLIENT_ADDR
TB_IMAGE=$IMAGE
EOF
}

bed_namespaces() {
	echo "$NS_UL"
	local n; for n in $(seq $NCH); do echo "$NS_PREFIX$n"; done
	[ "$TB_MODE" = single ] || { echo "$NS_RT"; echo "$NS_CL"; }
}

# A bed whose processes were killed without `down` (a stopped session, a
# crashed CI run) leaves its namespaces, bridges and LXD's interfaces
# behind; with no state of ours here, remove them before starting anew.
# A cluster bed whose `up` failed half-way is taken down whole: a
# half-formed LXD cluster does not resume.
clean_stale() {
	[ -f "$STATE/env" ] && return 0
	if [ "$TB_MODE" = cluster ] && [ -d "$STATE" ]; then
		log "removing the half-started cluster bed in $STATE"
		cmd_down
		return 0
	fi
	containers_kill
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^($NS_UL|${NS_PREFIX}[0-9]+|$NS_RT|$NS_CL)\$" || true); do
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
	printf 'TB_NS=%s\nTB_MODE=%s\nTB_STACK=%s\nTB_OVN=%s\nTB_CENTRAL=%s\nTB_LOCK=%s\n' "$TB_NS" "$TB_MODE" "$TB_STACK" "$TB_OVN" "$TB_CENTRAL" "$LOCK" >"$STATE/bed.conf"
	if [ -n "${TB_BIRD_PORT:-}" ]; then echo "TB_BIRD_PORT=$TB_BIRD_PORT" >>"$STATE/bed.conf"; fi
	if [ -n "${TB_RAFT_PORT_BASE:-}" ]; then echo "TB_RAFT_PORT_BASE=$TB_RAFT_PORT_BASE" >>"$STATE/bed.conf"; fi
	if [ -n "${TB_RAFT_ELECTION_TIMER:-}" ]; then echo "TB_RAFT_ELECTION_TIMER=$TB_RAFT_ELECTION_TIMER" >>"$STATE/bed.conf"; fi
	central_up
	underlay_up
	if [ "$TB_MODE" = cluster ]; then uplink_up; fi
	local n
	for n in $(seq $NCH); do chassis_create "$n"; done
	for n in $(seq $NCH); do chassis_start "$n"; done
	wait_for 30 "3 chassis in SB" sh -c "[ \$(ovn-sbctl --db=$SB_DB --bare --columns=name list Chassis | grep -c .) -ge $NCH ]"
	if [ "$TB_MODE" = cluster ]; then
		cluster_up
	else
		lxd_start
		lxd_configure
	fi
	write_env
	# The gateway is real only when someone claims it (BFD up between gateways).
	wait_for 60 "a chassis to claim the gateway port" sh -c \
		"ovn-sbctl --db=$SB_DB --bare --columns=chassis find Port_Binding type=chassisredirect | grep -q ."
	log "up ($TB_MODE, $TB_CENTRAL central) in $((SECONDS - t0))s; env: $STATE/env"
}

cmd_down() {
	[ -d "$STATE" ] || { log "nothing to stop"; return 0; }
	fixers_stop
	containers_kill
	lxd_stop "" 50
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
	for n in $(seq $NMEM); do
		stop_pidfile "$(member_dir "$n")/nb.pid"
		stop_pidfile "$(member_dir "$n")/sb.pid"
	done
	[ -f "$STATE/bird.pid" ] && stop_pidfile "$STATE/bird.pid"
	# dnsmasq and friends started by LXD live in its namespace: end them with it.
	for ns in $(bed_namespaces); do
		if ip netns list | grep -qw "^$ns"; then
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
			ip netns del "$ns"
		fi
	done
	# LXD mounts its shmounts/devlxd (and instances' rootfs) under its dir.
	grep -o " ${STATE}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$STATE"
	log "down"
}

cmd_status() {
	[ -f "$STATE/env" ] || { echo "test bed: down"; return 1; }
	local ok=0 f s n
	echo "mode: $TB_MODE, $TB_CENTRAL central (namespaces $TB_NS-*)"
	printf '%-28s %s\n' "daemon" "state"
	for f in $(central_pidfiles) "$CENTRAL/northd.pid" \
		$(for n in $(seq $NCH); do d=$(chdir_of "$n"); echo "$d/ovsdb-server.pid $d/ovs-vswitchd.pid $d/ovn-controller.pid"; done) \
		$(for n in $(members); do echo "$(lxd_dir_of "$n")/lxd.pid"; done) \
		$([ "$TB_MODE" = cluster ] && for n in $(seq $NCH); do echo "$(chdir_of "$n")/fixer.pid"; done); do
		if pid_alive "$f"; then s="running ($(cat "$f"))"; else s="DOWN"; ok=1; fi
		printf '%-28s %s\n' "${f#"$STATE"/}" "$s"
	done
	echo
	if [ "$TB_MODE" = cluster ]; then
		# Ask the first member whose daemon runs.
		local v=1
		for n in $(members); do if pid_alive "$(lxd_dir_of "$n")/lxd.pid"; then v=$n; break; fi; done
		echo "$STACK_NAME cluster members (m$v's view):"
		timeout 15 ip netns exec "$NS_PREFIX$v" env $DIR_VAR="$(lxd_dir_of "$v")" $CLI cluster list --format csv 2>&1 |
			awk -F, 'NF>=7{n=substr($1, 2); print "  " $1 " " $2 " " $(NF-1) " (chassis ch" n ", OVS hostname host-ch" n ")"} NF<7{print "  " $0}' || ok=1
		echo "instances:"
		timeout 15 ip netns exec "$NS_PREFIX$v" env $DIR_VAR="$(lxd_dir_of "$v")" $CLI list --format csv -c n,s,L,4 2>&1 | sed 's/^/  /' || ok=1
	fi
	if [ "$TB_CENTRAL" = raft ]; then
		local db st
		for db in nb sb; do
			echo "$(db_name "$db") cluster (Raft on 127.0.0.1:$(raft_port "$db" 1)-$(raft_port "$db" $NMEM), ssl on 127.0.0.1:$(ssl_port "$db" 1)-$(ssl_port "$db" $NMEM)):"
			for n in $(seq $NMEM); do
				if ! member_running "$db" "$n"; then echo "  member $n: DOWN"; ok=1; continue; fi
				if st=$(member_status "$db" "$n" 2>&1); then
					echo "  member $n: $(awk -F': ' '/^Role:/{r=$2} /^Term:/{t=$2} /^Leader:/{l=$2} /^Status:/{s=$2} /^Election timer:/{e=$2} END{printf "%s, term %s, leader %s (%s), election timer %s ms", r, t, l, s, e}' <<<"$st")"
				else
					echo "  member $n: no answer: $st"; ok=1
				fi
			done
		done
	fi
	echo "gateway claims (SB Port_Binding type=chassisredirect):"
	ovn-sbctl --db="$SB_DB" --timeout=5 --columns=logical_port,chassis find Port_Binding type=chassisredirect || ok=1
	echo "chassis:"
	ovn-sbctl --db="$SB_DB" --timeout=5 --bare --columns=name,nb_cfg list Chassis_Private | paste - - - | sed 's/^/  /' || ok=1
	return $ok
}

central_pidfiles() {
	if [ "$TB_CENTRAL" = raft ]; then
		local db n
		for db in nb sb; do for n in $(seq $NMEM); do echo "$(member_dir "$n")/$db.pid"; done; done
	else
		echo "$CENTRAL/nb.pid $CENTRAL/sb.pid"
	fi
}

need_cluster() { [ "$TB_MODE" = cluster ] || die "$1 needs a cluster bed (TB_MODE=cluster)"; }

main() {
	local c=${1:-}; shift || true
	case "$c" in
	up | down)
		if [ -z "${TB_LOCKED:-}" ]; then
			# flock -o: the lock is the flock process's alone, so the
			# daemons up starts do not inherit it.
			mkdir -p "$(dirname "$LOCK")"
			log "waiting for the test bed lock $LOCK"
			TB_LOCKED=1 TB_MODE=$TB_MODE TB_STACK=$TB_STACK TB_OVN=$TB_OVN TB_CENTRAL=$TB_CENTRAL TB_NS=$TB_NS exec flock -o -w 1800 "$LOCK" bash "$0" "$c" "$@"
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
	controller-stop) controller_stop "$1" ;;
	chassis-start) chassis_start "$1" ;;
	underlay-cut) ip netns exec "$NS_UL" ip link set "ul-ch$1" down ;;
	underlay-restore) ip netns exec "$NS_UL" ip link set "ul-ch$1" up ;;
	lxd-stop) lxd_stop "" "$([ "$TB_MODE" = cluster ] && echo 300 || echo 50)" ;;
	lxd-start) lxd_start ;;
	member-stop) need_cluster "$c"; lxd_stop "$(member_num "$1")" 300 ;;
	member-start) need_cluster "$c"; lxd_start "$(member_num "$1")" ;;
	lxc-on) need_cluster "$c"; n=$(member_num "$1"); shift; lxc_on "$n" "$@" ;;
	launch) cmd_launch "$@" ;;
	client) need_cluster "$c"; ip netns exec "$NS_CL" "$@" ;;
	router) need_cluster "$c"; ip netns exec "$NS_RT" "$@" ;;
	fixup) cmd_fixup ;;
	fixer-loop) fixer_loop "$1" ;;
	nb-kill | sb-kill)
		# Wait until it is gone: its lock on nb.db lasts as long as it does
		# (a test edits the file offline next). Raft: every member at once.
		db=${c%%-*}
		if [ "$TB_CENTRAL" = raft ]; then
			for n in $(seq $NMEM); do member_kill "$db" "$n"; done
		else
			p=$(cat "$CENTRAL/$db.pid")
			kill -KILL "$p"
			for _ in $(seq 100); do proc_alive "$p" || break; sleep 0.05; done
			rm -f "$CENTRAL/$db.pid"
		fi
		;;
	nb-start | sb-start) central_up ;;
	nb-leader | sb-leader | nb-kill-leader | sb-kill-leader | nb-member-kill | sb-member-kill | nb-member-start | sb-member-start | nb-election-timer | sb-election-timer)
		raft_cmd "${c%%-*}" "${c#*-}" "${1:-}"
		;;
	northd-stop) stop_pidfile "$CENTRAL/northd.pid" ;;
	northd-start) northd_up ;;
	bird-up) bird_up ;;
	bird-down) bird_down ;;
	*) sed -n '2,/^set -euo/{/^set -euo/d;p}' "$0"; exit 2 ;;
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
