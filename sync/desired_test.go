package sync

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestDesiredRows(t *testing.T) {
	lxd5 := Rules{Prefix: "lxd-net", AttachSwitch: true}
	lxd6 := Rules{Prefix: "lxd-net"}
	incusBoth := Rules{Prefix: "incus-net", AttachSwitch: true, DefaultTargetInUDP: true}
	incusNAT := Rules{Prefix: "incus-net", AttachSwitch: true, DefaultTargetViaNAT: true}
	m := Mapping{Network: NetworkRef{Project: "default", Name: "ovn1"}, Prefix: "lxd-net2",
		RouterName: "lxd-net2-lr", IntSwitchName: "lxd-net2-ls-int",
		Subnets: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24"), netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("fd42:2::/64")}}
	mi := m
	mi.Prefix, mi.RouterName, mi.IntSwitchName = "incus-net2", "incus-net2-lr", "incus-net2-ls-int"

	fwd := func(listen, def string, ports ...ForwardPort) Forward {
		return Forward{Project: "default", Network: "ovn1", ListenAddress: listen, DefaultTarget: def, Ports: ports}
	}
	tcp := func(lp, ta, tp string) ForwardPort {
		return ForwardPort{Protocol: "tcp", ListenPort: lp, TargetAddress: ta, TargetPort: tp}
	}
	udp := func(lp, ta, tp string) ForwardPort {
		return ForwardPort{Protocol: "udp", ListenPort: lp, TargetAddress: ta, TargetPort: tp}
	}
	type rows = map[string]map[string]string // name → VIPs

	tests := []struct {
		name  string
		rules Rules
		m     Mapping
		f     Forward
		o     Options
		want  rows
		opts  map[string]map[string]string // name → options, when checked
		err   string
	}{
		{name: "one tcp port", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80", "10.2.0.5", "")),
			want: rows{"lxd-net2-lb-198.51.100.10-tcp": {"198.51.100.10:80": "10.2.0.5:80"}}},
		{name: "target port", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80", "10.2.0.5", "8080")),
			want: rows{"lxd-net2-lb-198.51.100.10-tcp": {"198.51.100.10:80": "10.2.0.5:8080"}}},
		{name: "ranges expanded", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80,90-92", "10.2.0.5", "")),
			want: rows{"lxd-net2-lb-198.51.100.10-tcp": {
				"198.51.100.10:80": "10.2.0.5:80", "198.51.100.10:90": "10.2.0.5:90",
				"198.51.100.10:91": "10.2.0.5:91", "198.51.100.10:92": "10.2.0.5:92"}}},
		{name: "many to one", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80, 443", "10.2.0.5", "8443")),
			want: rows{"lxd-net2-lb-198.51.100.10-tcp": {"198.51.100.10:80": "10.2.0.5:8443", "198.51.100.10:443": "10.2.0.5:8443"}}},
		{name: "nth to nth", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80,90-91", "10.2.0.5", "8080,9000-9001")),
			want: rows{"lxd-net2-lb-198.51.100.10-tcp": {
				"198.51.100.10:80": "10.2.0.5:8080", "198.51.100.10:90": "10.2.0.5:9000", "198.51.100.10:91": "10.2.0.5:9001"}}},
		{name: "tcp and udp", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("53", "10.2.0.5", ""), udp("53", "10.2.0.6", "5353")),
			want: rows{
				"lxd-net2-lb-198.51.100.10-tcp": {"198.51.100.10:53": "10.2.0.5:53"},
				"lxd-net2-lb-198.51.100.10-udp": {"198.51.100.10:53": "10.2.0.6:5353"}}},
		{name: "same port in tcp and udp is fine", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("53", "10.2.0.5", ""), udp("53", "10.2.0.5", "")),
			want: rows{
				"lxd-net2-lb-198.51.100.10-tcp": {"198.51.100.10:53": "10.2.0.5:53"},
				"lxd-net2-lb-198.51.100.10-udp": {"198.51.100.10:53": "10.2.0.5:53"}}},
		{name: "ipv6 bracketed in VIPs, not in names", rules: lxd5, m: m,
			f:    fwd("2001:db8:0::10", "", tcp("80", "fd42:2::5", "8080")),
			want: rows{"lxd-net2-lb-2001:db8::10-tcp": {"[2001:db8::10]:80": "[fd42:2::5]:8080"}}},
		{name: "default target goes to tcp row only (LXD)", rules: lxd5, m: m,
			f: fwd("198.51.100.10", "10.2.0.9", tcp("80", "10.2.0.5", ""), udp("53", "10.2.0.5", "")),
			want: rows{
				"lxd-net2-lb-198.51.100.10-tcp": {"198.51.100.10": "10.2.0.9", "198.51.100.10:80": "10.2.0.5:80"},
				"lxd-net2-lb-198.51.100.10-udp": {"198.51.100.10:53": "10.2.0.5:53"}}},
		{name: "default target only: tcp row only (LXD)", rules: lxd6, m: m, f: fwd("198.51.100.10", "10.2.0.9"),
			want: rows{"lxd-net2-lb-198.51.100.10-tcp": {"198.51.100.10": "10.2.0.9"}}},
		{name: "default target with udp ports only: tcp row holds the default (LXD)", rules: lxd5, m: m,
			f: fwd("198.51.100.10", "10.2.0.9", udp("53", "10.2.0.5", "")),
			want: rows{
				"lxd-net2-lb-198.51.100.10-tcp": {"198.51.100.10": "10.2.0.9"},
				"lxd-net2-lb-198.51.100.10-udp": {"198.51.100.10:53": "10.2.0.5:53"}}},
		{name: "ipv6 default target is unbracketed", rules: lxd5, m: m, f: fwd("2001:db8::10", "fd42:2::9"),
			want: rows{"lxd-net2-lb-2001:db8::10-tcp": {"2001:db8::10": "fd42:2::9"}}},
		{name: "default target in both rows (Incus 6.3)", rules: incusBoth, m: mi,
			f: fwd("198.51.100.10", "10.2.0.9", tcp("80", "10.2.0.5", "")),
			want: rows{
				"incus-net2-lb-198.51.100.10-tcp": {"198.51.100.10": "10.2.0.9", "198.51.100.10:80": "10.2.0.5:80"},
				"incus-net2-lb-198.51.100.10-udp": {"198.51.100.10": "10.2.0.9"}}},
		{name: "default target not managed (Incus 7.3)", rules: incusNAT, m: mi,
			f:    fwd("198.51.100.10", "10.2.0.9", tcp("80", "10.2.0.5", "")),
			want: rows{"incus-net2-lb-198.51.100.10-tcp": {"198.51.100.10:80": "10.2.0.5:80"}}},
		{name: "default target only: no rows (Incus 7.3)", rules: incusNAT, m: mi, f: fwd("198.51.100.10", "10.2.0.9"),
			want: rows{}},
		{name: "no ports, no default: no rows", rules: lxd5, m: m, f: fwd("198.51.100.10", ""), want: rows{}},
		{name: "ipv4-mapped listen address is named as IPv4", rules: lxd5, m: m, f: fwd("::ffff:198.51.100.10", "", tcp("80", "10.2.0.5", "")),
			want: rows{"lxd-net2-lb-198.51.100.10-tcp": {"198.51.100.10:80": "10.2.0.5:80"}}},

		{name: "arp all", rules: lxd5, m: m, o: Options{ARPResponder: "all"}, f: fwd("10.2.0.200", "", tcp("80", "10.2.0.5", "")),
			want: rows{"lxd-net2-lb-10.2.0.200-tcp": {"10.2.0.200:80": "10.2.0.5:80"}},
			opts: map[string]map[string]string{"lxd-net2-lb-10.2.0.200-tcp": {"neighbor_responder": "all"}}},
		{name: "arp auto outside subnets", rules: lxd5, m: m, o: Options{ARPResponder: "auto"}, f: fwd("198.51.100.10", "", tcp("80", "10.2.0.5", "")),
			want: rows{webTCP: webVIPs},
			opts: map[string]map[string]string{webTCP: {"neighbor_responder": "all"}}},
		{name: "arp auto inside a router subnet", rules: lxd5, m: m, o: Options{ARPResponder: "auto"}, f: fwd("203.0.113.50", "", tcp("80", "10.2.0.5", "")),
			want: rows{"lxd-net2-lb-203.0.113.50-tcp": {"203.0.113.50:80": "10.2.0.5:80"}},
			opts: map[string]map[string]string{"lxd-net2-lb-203.0.113.50-tcp": {}}},
		{name: "arp off", rules: lxd5, m: m, o: Options{ARPResponder: "off"}, f: web(),
			want: rows{webTCP: webVIPs},
			opts: map[string]map[string]string{webTCP: {}}},
		{name: "arp unmanaged", rules: lxd5, m: m, f: web(),
			want: rows{webTCP: webVIPs},
			opts: map[string]map[string]string{webTCP: nil}},

		{name: "invalid listen", rules: lxd5, m: m, f: fwd("198.51.100", "", tcp("80", "10.2.0.5", "")), err: "invalid listen address"},
		{name: "zoned listen", rules: lxd5, m: m, f: fwd("fe80::1%eth0", "", tcp("80", "fe80::2", "")), err: "invalid listen address"},
		{name: "invalid target", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80", "10.2.0.", "")), err: "invalid target address"},
		{name: "family mismatch", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80", "fd42:2::5", "")), err: "different IP families"},
		{name: "invalid default target", rules: lxd5, m: m, f: fwd("198.51.100.10", "nope"), err: "invalid default target"},
		{name: "bad range", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("100-90", "10.2.0.5", "")), err: "ends before it starts"},
		{name: "bad port", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80,x", "10.2.0.5", "")), err: "invalid port"},
		{name: "port zero", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("0", "10.2.0.5", "")), err: "invalid port"},
		{name: "port too big", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("65536", "10.2.0.5", "")), err: "invalid port"},
		{name: "empty listen port", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("", "10.2.0.5", "")), err: "no port given"},
		{name: "mismatched counts", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80,90-92", "10.2.0.5", "8080,8081")),
			err: "4 listen ports (80,90-92) but 2 target ports"},
		{name: "duplicate listen port", rules: lxd5, m: m, f: fwd("198.51.100.10", "", tcp("80", "10.2.0.5", ""), tcp("70-90", "10.2.0.6", "")),
			err: "tcp listen port 80 is given twice"},
		{name: "bad protocol", rules: lxd5, m: m, f: fwd("198.51.100.10", "", ForwardPort{Protocol: "sctp", ListenPort: "80", TargetAddress: "10.2.0.5"}),
			err: `protocol "sctp" is not tcp or udp`},
		{name: "unmapped", rules: lxd5, m: Mapping{Err: "no prefix"}, f: web(), err: "network is not mapped"},
		{name: "bad arp mode", rules: lxd5, m: m, o: Options{ARPResponder: "sometimes"}, f: web(), err: "unknown ARP responder mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := DesiredRows(tt.rules, tt.m, tt.f, tt.o)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				if !strings.Contains(err.Error(), "forward "+tt.f.ListenAddress+" on network default/ovn1") {
					t.Errorf("error %q does not name the forward", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := rows{}
			var names []string
			for _, lb := range d.LBs {
				got[lb.Name] = lb.VIPs
				names = append(names, lb.Name)
				if want := lb.Name[strings.LastIndex(lb.Name, "-")+1:]; lb.Protocol != want {
					t.Errorf("%s has protocol %q", lb.Name, lb.Protocol)
				}
				if want, ok := tt.opts[lb.Name]; ok && !reflect.DeepEqual(lb.Options, want) {
					t.Errorf("%s options %#v, want %#v", lb.Name, lb.Options, want)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rows\n got %v\nwant %v", got, tt.want)
			}
			if len(names) == 2 && names[0] > names[1] {
				t.Errorf("rows out of order: %v", names)
			}
			if d.RouterName != tt.m.RouterName || d.Prefix != tt.m.Prefix {
				t.Errorf("router %q prefix %q", d.RouterName, d.Prefix)
			}
			wantSwitches := []string(nil)
			if tt.rules.AttachSwitch {
				wantSwitches = []string{tt.m.IntSwitchName}
			}
			if !reflect.DeepEqual(d.SwitchNames, wantSwitches) {
				t.Errorf("switches %v, want %v", d.SwitchNames, wantSwitches)
			}
		})
	}
}

func TestParsePortList(t *testing.T) {
	got, err := parsePortList("65534-65535,1")
	if err != nil || !reflect.DeepEqual(got, []uint16{65534, 65535, 1}) {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := parsePortList("80-"); err == nil {
		t.Error("80- accepted")
	}
	if _, err := parsePortList("80-90-100"); err == nil {
		t.Error("80-90-100 accepted")
	}
}

func TestVIPsEqual(t *testing.T) {
	tests := []struct {
		a, b map[string]string
		want bool
	}{
		{map[string]string{"1.2.3.4:80": "10.0.0.1:80"}, map[string]string{"1.2.3.4:80": "10.0.0.1:80"}, true},
		{map[string]string{"1.2.3.4:80": "10.0.0.1:80"}, map[string]string{"1.2.3.4:80": "10.0.0.1:81"}, false},
		{map[string]string{"1.2.3.4:80": "10.0.0.1:80"}, map[string]string{"1.2.3.4:81": "10.0.0.1:80"}, false},
		{map[string]string{"1.2.3.4:80": "10.0.0.1:80"}, map[string]string{}, false},
		{nil, map[string]string{}, true},
		// Incus's libovsdb writer brackets port-less IPv6; nbctl does not.
		{map[string]string{"[2001:db8::1]": "[fd42::2]"}, map[string]string{"2001:db8::1": "fd42::2"}, true},
		{map[string]string{"[2001:db8:0::1]:80": "[fd42::2]:80"}, map[string]string{"[2001:db8::1]:80": "[fd42::2]:80"}, true},
		{map[string]string{"2001:db8::1": "fd42::2"}, map[string]string{"2001:db8::1": "fd42::3"}, false},
	}
	for _, tt := range tests {
		if got := vipsEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("vipsEqual(%v, %v) = %v", tt.a, tt.b, got)
		}
	}
}
