#!/usr/bin/env bash
# Builds the test bed's container image (LXD split image, ~1 MB) from
# Debian's busybox-static, without any image registry:
#
#   build-busybox.sh OUTDIR     -> OUTDIR/meta.tar.gz OUTDIR/rootfs.tar.gz
#
# The container's /sbin/init brings up lo and eth0, runs udhcpc (a script
# applies the lease), serves http://<ip>/ (httpd, a page naming the
# instance: "ovnfwd-bed <hostname>") and a UDP echo on port 7 (udpecho,
# a static Go binary: busybox-static has no UDP server applet), then
# waits; SIGPWR/SIGTERM (lxc stop) end it at once.
# Import: lxc image import OUTDIR/meta.tar.gz OUTDIR/rootfs.tar.gz --alias bb
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:?usage: build-busybox.sh OUTDIR}
BB=${BUSYBOX:-/bin/busybox}

[ -x "$BB" ] || { echo "build-busybox: $BB missing (apt-get install busybox-static)" >&2; exit 1; }
# The image runs busybox alone: it must not need a dynamic loader.
if file -L "$BB" 2>/dev/null | grep -q dynamic; then
	echo "build-busybox: $BB is dynamically linked (need busybox-static)" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,etc,dev,proc,sys,tmp,run,var/log,root,www,usr/bin,usr/sbin}
chmod 1777 "$root/tmp"

install -m 0755 "$BB" "$root/bin/busybox"
for a in $("$BB" --list); do
	[ "$a" = busybox ] || [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done

(cd "$HERE" && CGO_ENABLED=0 GOFLAGS='' go build -trimpath -ldflags='-s -w' -o "$root/bin/udpecho" udpecho.go)

cat >"$root/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc event script: apply the lease (busybox udhcpc exports ip, mask,
# router, dns).
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound | renew)
	[ -n "$mask" ] || mask=24
	ip addr replace "$ip/$mask" dev "$interface"
	for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
	: >/etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
	;;
esac
exit 0
EOF

cat >"$root/sbin/init" <<'EOF'
#!/bin/sh
# ovnfwd test bed container init (busybox).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
trap 'exit 0' TERM INT PWR
name=$(hostname)
echo "ovnfwd-bed $name" >/www/index.html
ip link set lo up
ip link set eth0 up 2>/dev/null
udhcpc -f -i eth0 -s /etc/udhcpc.script -t 5 -T 1 -A 1 -x "hostname:$name" >/var/log/udhcpc.log 2>&1 &
httpd -p 80 -h /www
(while :; do udpecho 7; sleep 1; done) >/var/log/udpecho.log 2>&1 &
while :; do
	sleep 3600 &
	wait $!
done
EOF
chmod 0755 "$root/sbin/init" "$root/etc/udhcpc.script"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
: >"$root/etc/hostname"

cat >"$work/metadata.yaml" <<EOF
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: ovnfwd test bed busybox ($("$BB" 2>&1 | head -n1 | awk '{print $2}'))
  os: busybox
  release: "$("$BB" 2>&1 | head -n1 | awk '{print $2}' | tr -d v)"
EOF

mkdir -p "$OUT"
tar czf "$OUT/meta.tar.gz.tmp" -C "$work" metadata.yaml
tar czf "$OUT/rootfs.tar.gz.tmp" --numeric-owner --owner=0 --group=0 -C "$root" .
mv "$OUT/meta.tar.gz.tmp" "$OUT/meta.tar.gz"
mv "$OUT/rootfs.tar.gz.tmp" "$OUT/rootfs.tar.gz"
