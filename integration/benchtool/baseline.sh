#!/usr/bin/env bash
# The baseline of issue 7: the check an operator writes without ovnfwd, with
# the tools at hand (lxc, jq, ovn-nbctl). For every forward of an OVN network
# it compares LXD's ports with the OVN Load_Balancer rows LXD should have
# written: one row per protocol, the same VIPs, attached to the router and
# the internal switch; then it looks for rows of forwards LXD no longer has.
#
#   baseline.sh NETWORK PREFIX [LIMIT]
#     PREFIX   the network's OVN prefix (lxd-net<ID>)
#     LIMIT    check only the first LIMIT forwards (0: all); the orphan scan
#              always covers every row
# Needs LXD_DIR (or a default LXD) and OVNFWD_NB. Prints one line per problem,
# then "checked N forwards, M problems"; exit 1 when there are problems.
set -uo pipefail
net=${1:?usage: baseline.sh NETWORK PREFIX [LIMIT]}
prefix=${2:?usage: baseline.sh NETWORK PREFIX [LIMIT]}
limit=${3:-0}
nbctl() { ovn-nbctl --db="$OVNFWD_NB" --timeout=30 "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

lxc network forward list "$net" --format json >"$tmp/forwards.json"
router_lbs=$(nbctl --bare --columns=load_balancer list Logical_Router "$prefix-lr")
switch_lbs=$(nbctl --bare --columns=load_balancer list Logical_Switch "$prefix-ls-int")

# The VIPs LXD writes for one forward and protocol, one "listen:port=target:port"
# per line, sorted (ranges expanded; target ports: none = same, one = all to it,
# else the nth to the nth; the default target only in the tcp row).
read -r -d '' VIPS <<'JQ'
def expand: [split(",")[] | if test("-") then (split("-") | map(tonumber)) as [$a,$b] | range($a; $b+1) else tonumber end];
. as $f
| [ $f.ports[] | select(.protocol == $proto)
    | (.listen_port | expand) as $lp
    | ((.target_port // "") | if . == "" then [] else expand end) as $tp
    | .target_address as $t
    | range(0; $lp | length) as $i
    | "\($f.listen_address):\($lp[$i])=\($t):\(if ($tp|length) == 0 then $lp[$i] elif ($tp|length) == 1 then $tp[0] else $tp[$i] end)" ]
  + (if $proto == "tcp" and ($f.config.target_address // "") != "" then ["\($f.listen_address)=\($f.config.target_address)"] else [] end)
| sort | .[]
JQ

problems=0
checked=0
problem() { echo "PROBLEM $*"; problems=$((problems + 1)); }
jq -c '.[]' "$tmp/forwards.json" >"$tmp/list"
[ "$limit" -gt 0 ] && head -n "$limit" "$tmp/list" >"$tmp/l" && mv "$tmp/l" "$tmp/list"
while read -r fwd; do
	listen=$(jq -r .listen_address <<<"$fwd")
	checked=$((checked + 1))
	for proto in tcp udp; do
		want=$(jq -r --arg proto "$proto" "$VIPS" <<<"$fwd")
		name="$prefix-lb-$listen-$proto"
		rows=$(nbctl --bare --columns=_uuid find Load_Balancer name="$name")
		n=$(grep -c . <<<"$rows")
		if [ -z "$want" ]; then
			[ "$n" -gt 0 ] && problem "$name: row for a protocol the forward does not use"
			continue
		fi
		case $n in
		0) problem "$name: missing"; continue ;;
		1) ;;
		*) problem "$name: $n rows share the name"; continue ;;
		esac
		have=$(nbctl --bare --columns=vips list Load_Balancer "$rows" | tr ' ' '\n' | tr -d '"' | grep . | sort)
		[ "$have" = "$want" ] || problem "$name: VIPs differ (want: $(echo $want), have: $(echo $have))"
		grep -qw "$rows" <<<"$router_lbs" || problem "$name: not attached to $prefix-lr"
		grep -qw "$rows" <<<"$switch_lbs" || problem "$name: not attached to $prefix-ls-int"
	done
done <"$tmp/list"

# Rows of forwards LXD does not have.
jq -r '.[].listen_address' "$tmp/forwards.json" | sort >"$tmp/listens"
nbctl --bare --columns=name find Load_Balancer | grep "^$prefix-lb-" |
	sed -E "s/^$prefix-lb-(.*)-(tcp|udp)\$/\1/" | sort -u >"$tmp/rows"
for l in $(comm -13 "$tmp/listens" "$tmp/rows"); do problem "$prefix-lb-$l-*: no such forward in LXD"; done

echo "checked $checked forwards, $problems problems"
[ "$problems" -eq 0 ]
