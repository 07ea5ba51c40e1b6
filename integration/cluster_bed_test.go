//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// clusterBed opens the bed and requires cluster mode (testbed.sh with
// TB_MODE=cluster): it skips on a single-member bed, unless
// OVNFWD_REQUIRE_CLUSTER is set, then it fails.
func clusterBed(t *testing.T) *Bed {
	t.Helper()
	env, err := LoadEnv(EnvFile())
	if err != nil {
		t.Fatal(err)
	}
	if env["TB_MODE"] != "cluster" {
		msg := fmt.Sprintf("the test bed in %s is not a cluster bed (TB_MODE=%q); bring one up with TB_MODE=cluster integration/testbed.sh up", EnvFile(), env["TB_MODE"])
		if os.Getenv("OVNFWD_REQUIRE_CLUSTER") != "" {
			t.Fatal(msg + " (OVNFWD_REQUIRE_CLUSTER is set)")
		}
		t.Skip(msg)
	}
	return Open(t)
}

// member connects to cluster member n's unix socket.
func (b *Bed) member(t *testing.T, n int) lxd.InstanceServer {
	t.Helper()
	sock := b.Get(t, fmt.Sprintf("TB_M%d_SOCKET", n))
	c, err := lxd.ConnectLXDUnix(sock, nil)
	if err != nil {
		t.Fatalf("connect to member m%d at %s: %v", n, sock, err)
	}
	return c
}

// script runs a testbed.sh subcommand of this bed (its state dir, mode and
// namespace prefix from the env file, whatever the test's environment).
func (b *Bed) script(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	env := []string{"TB_STATE=" + b.Env["TB_STATE"], "TB_MODE=" + b.Env["TB_MODE"], "TB_NS=" + b.Env["TB_NS"],
		"OVNFWD_TESTBED_LOCK=" + b.Env["TB_LOCK"]}
	return run(ctx, env, "bash", append([]string{b.Env["TB_SCRIPT"]}, args...)...)
}

// inClient runs a command in the bed's client namespace (on the uplink
// segment, behind the uplink router), bounded by timeout.
func (b *Bed) inClient(timeout time.Duration, args ...string) (string, error) {
	return b.script(timeout, append([]string{"client"}, args...)...)
}

func httpGetArgs(url string) []string {
	if _, err := exec.LookPath("curl"); err == nil {
		return []string{"curl", "-sS", "--max-time", "5", url}
	}
	return []string{"busybox", "wget", "-q", "-T", "5", "-O", "-", url}
}

// TestClusterBedForwardTraffic proves the cluster bed's data path: a real
// container on m2, a forward created through m3's API, and a client on the
// uplink reaching the container through the forward's VIP over TCP (HTTP)
// and UDP (echo) — LXD -> OVN load balancer -> gateway chassis (userspace
// datapath) -> the instance on another chassis.
func TestClusterBedForwardTraffic(t *testing.T) {
	b := clusterBed(t)
	net := b.Get(t, "TB_NETWORK")
	m3 := b.member(t, 3)
	name := fmt.Sprintf("cbt-web-%d", os.Getpid()%100000)
	const listen = "198.51.100.77"

	t.Cleanup(func() {
		if err := m3.DeleteNetworkForward(net, listen); err != nil && !api.StatusErrorCheck(err, 404) {
			t.Errorf("cleanup: delete forward %s: %v", listen, err)
		}
		if op, err := m3.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, ""); err == nil {
			_ = op.Wait()
		}
		if op, err := m3.DeleteInstance(name); err == nil {
			if err := op.Wait(); err != nil {
				t.Errorf("cleanup: delete instance %s: %v", name, err)
			}
		} else if !api.StatusErrorCheck(err, 404) {
			t.Errorf("cleanup: delete instance %s: %v", name, err)
		}
	})

	start := time.Now()
	out, err := b.script(3*time.Minute, "launch", name, "m2")
	if err != nil {
		t.Fatalf("launch %s on m2: %v", name, err)
	}
	ip := strings.TrimSpace(out)
	t.Logf("launched %s on m2 with %s in %v", name, ip, time.Since(start).Round(time.Millisecond))
	inst, _, err := m3.GetInstance(name)
	if err != nil {
		t.Fatalf("get instance %s through m3: %v", name, err)
	}
	if inst.Location != "m2" || inst.StatusCode != api.Running {
		t.Fatalf("instance %s: location %q status %s, want m2 Running", name, inst.Location, inst.Status)
	}
	page := "ovnfwd-bed " + name

	// The routed OVN subnet (ipv4.nat=false) is reachable from the client
	// through the uplink router.
	Eventually(t, 30*time.Second, 500*time.Millisecond, "client fetches the instance directly", func() string {
		out, err := b.inClient(10*time.Second, httpGetArgs("http://"+ip+"/")...)
		if err != nil || !strings.Contains(out, page) {
			return fmt.Sprintf("%q %v", out, err)
		}
		return ""
	})

	if err := m3.CreateNetworkForward(net, api.NetworkForwardsPost{
		ListenAddress: listen,
		NetworkForwardPut: api.NetworkForwardPut{
			Description: "cluster bed test",
			Ports: []api.NetworkForwardPort{
				{Protocol: "tcp", ListenPort: "80", TargetAddress: ip},
				{Protocol: "udp", ListenPort: "7", TargetAddress: ip},
			},
		},
	}); err != nil {
		t.Fatalf("create forward %s through m3: %v", listen, err)
	}

	// LXD never sets neighbor_responder (the default, reachable, answers
	// ARP only for VIPs inside a router subnet, i.e. only within the GARP
	// window for this VIP): ovnfwd's job, stood in for here.
	prefix := b.Prefix(t)
	for _, proto := range []string{"tcp", "udp"} {
		rowName := prefix + "-lb-" + listen + "-" + proto
		var uuid string
		Eventually(t, 10*time.Second, 100*time.Millisecond, "LXD writes "+rowName, func() string {
			rows := b.LBsByName(t)[rowName]
			if len(rows) != 1 {
				return fmt.Sprintf("%d rows", len(rows))
			}
			uuid = rows[0].UUID
			return ""
		})
		b.NBCtl(t, "set", "Load_Balancer", uuid, "options:neighbor_responder=all")
	}
	b.NBCtl(t, "--wait=sb", "sync")
	// A fresh ARP exchange for the VIP, not an entry learned from a GARP.
	if _, err := b.script(10*time.Second, "router", "ip", "neigh", "flush", "to", listen); err != nil {
		t.Fatalf("flush the router's neighbour entry for %s: %v", listen, err)
	}

	start = time.Now()
	Eventually(t, 60*time.Second, 500*time.Millisecond, "client fetches http://"+listen+"/ through the forward", func() string {
		out, err := b.inClient(10*time.Second, httpGetArgs("http://"+listen+"/")...)
		if err != nil || !strings.Contains(out, page) {
			return fmt.Sprintf("%q %v", out, err)
		}
		return ""
	})
	t.Logf("HTTP through forward %s -> %s (gateway %s): ok after %v", listen, ip, b.GatewayChassis(t, prefix), time.Since(start).Round(time.Millisecond))

	// UDP echo (port 7 in the image): bash's /dev/udp is a connected
	// socket; head reads the whole datagram.
	token := fmt.Sprintf("cbt-%d", time.Now().UnixNano())
	Eventually(t, 30*time.Second, 500*time.Millisecond, "UDP echo through the forward", func() string {
		out, err := b.inClient(10*time.Second, "bash", "-c",
			fmt.Sprintf(`exec 3<>/dev/udp/%s/7; printf '%%s\n' %q >&3; timeout 3 head -n1 <&3`, listen, token))
		if err != nil || strings.TrimSpace(out) != token {
			return fmt.Sprintf("%q %v", out, err)
		}
		return ""
	})
	t.Logf("UDP echo through forward %s:7: ok", listen)
}
