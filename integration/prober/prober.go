//go:build ignore

// prober is the test bed's traffic prober: a static binary the traffic
// tests and the failover outage bench run inside a bed namespace (`ip netns
// exec <client> prober …`), so its sockets are that namespace's. It writes
// one line per event to stdout, with wall-clock nanoseconds (the same clock
// as the test process):
//
//	T <start_ns> <dur_ns> ok                 a new TCP connection got the expected reply
//	T <start_ns> <dur_ns> fail <reason>      … did not (timeout, refused, wrong body)
//	U <seq> <send_ns>                        a datagram of the long-lived UDP flow was sent
//	R <seq> <recv_ns>                        … and its echo came back
//	A <ns> <op> <sender_mac> <sender_ip> <target_mac> <target_ip> <src_mac>   an ARP frame (-arp)
//	M <ns> <what>                            a frame from -mac after ≥ 50 ms without one (-arp)
//
// Flags: -tcp HOST:PORT opens a NEW connection every -interval (each
// attempt in its own goroutine, bounded by -timeout, so a hanging attempt
// never delays the schedule), sends an HTTP/1.0 GET and expects -expect in
// the reply. -udp HOST:PORT keeps ONE connected UDP socket (one 5-tuple,
// a long-lived flow through the load balancer's conntrack) and sends a
// sequence number every -udp-interval, expecting the echo (port 7 of the
// bed's image). -arp IFACE records every ARP frame seen on IFACE (an
// AF_PACKET socket). It runs until SIGTERM/SIGINT or -duration.
//
// Built static, like the image's udpecho: CGO_ENABLED=0 go build prober.go
// (the ignore tag keeps it out of ./...).
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	out   = bufio.NewWriterSize(os.Stdout, 1<<16)
	outMu sync.Mutex
)

func emit(format string, args ...any) {
	outMu.Lock()
	fmt.Fprintf(out, format+"\n", args...)
	outMu.Unlock()
}

func flush() {
	outMu.Lock()
	_ = out.Flush()
	outMu.Unlock()
}

func main() {
	tcpTarget := flag.String("tcp", "", "HOST:PORT: a new HTTP connection every -interval")
	expect := flag.String("expect", "ovnfwd-bed", "a good reply contains this")
	interval := flag.Duration("interval", 10*time.Millisecond, "between new TCP connections")
	timeout := flag.Duration("timeout", 500*time.Millisecond, "one TCP attempt, connect to last byte")
	udpTarget := flag.String("udp", "", "HOST:PORT: one long-lived UDP flow to an echo service")
	udpInterval := flag.Duration("udp-interval", 10*time.Millisecond, "between datagrams of the UDP flow")
	arpIface := flag.String("arp", "", "record ARP frames seen on this interface")
	watchMAC := flag.String("mac", "", "with -arp: also record the first frame from this source MAC after every gap of 50 ms")
	duration := flag.Duration("duration", 0, "stop after this long (0: at SIGTERM)")
	flag.Parse()
	if *tcpTarget == "" && *udpTarget == "" && *arpIface == "" {
		fmt.Fprintln(os.Stderr, "prober: nothing to do (-tcp, -udp or -arp)")
		os.Exit(2)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	if *arpIface != "" {
		if err := startARP(*arpIface, *watchMAC, stop, &wg); err != nil {
			fmt.Fprintln(os.Stderr, "prober: arp:", err)
			os.Exit(1)
		}
	}
	if *udpTarget != "" {
		if err := startUDP(*udpTarget, *udpInterval, stop, &wg); err != nil {
			fmt.Fprintln(os.Stderr, "prober: udp:", err)
			os.Exit(1)
		}
	}
	if *tcpTarget != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tcpLoop(*tcpTarget, *expect, *interval, *timeout, stop)
		}()
	}
	// Flush often: the tests read the lines as they come.
	go func() {
		for {
			time.Sleep(20 * time.Millisecond)
			flush()
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var end <-chan time.Time
	if *duration > 0 {
		end = time.After(*duration)
	}
	select {
	case <-sig:
	case <-end:
	}
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(*timeout + time.Second):
	}
	flush()
}

func tcpLoop(target, expect string, interval, timeout time.Duration, stop <-chan struct{}) {
	req := []byte("GET / HTTP/1.0\r\nHost: " + target + "\r\n\r\n")
	var inflight sync.WaitGroup
	defer inflight.Wait()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			start := time.Now()
			reason := attempt(target, req, expect, start.Add(timeout))
			d := time.Since(start)
			if reason == "" {
				emit("T %d %d ok", start.UnixNano(), d.Nanoseconds())
			} else {
				emit("T %d %d fail %s", start.UnixNano(), d.Nanoseconds(), reason)
			}
		}()
	}
}

// attempt returns "" for a good reply, else a one-word reason.
func attempt(target string, req []byte, expect string, deadline time.Time) string {
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp", target)
	if err != nil {
		return classify(err, "connect")
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(req); err != nil {
		return classify(err, "write")
	}
	body, err := io.ReadAll(io.LimitReader(c, 1<<16))
	if err != nil && len(body) == 0 {
		return classify(err, "read")
	}
	if !bytes.Contains(body, []byte(expect)) {
		return "wrong-reply"
	}
	return ""
}

func classify(err error, phase string) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "timeout"):
		return phase + "-timeout"
	case strings.Contains(s, "refused"):
		return phase + "-refused"
	case strings.Contains(s, "unreachable"):
		return phase + "-unreachable"
	case strings.Contains(s, "reset"):
		return phase + "-reset"
	case strings.Contains(s, "no route"):
		return phase + "-noroute"
	}
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return phase + "-" + strings.ReplaceAll(s, " ", "_")
}

func startUDP(target string, interval time.Duration, stop <-chan struct{}, wg *sync.WaitGroup) error {
	c, err := net.Dial("udp", target)
	if err != nil {
		return err
	}
	wg.Add(2)
	go func() { // receiver
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.Read(buf)
			now := time.Now()
			if err != nil {
				select {
				case <-stop:
					return
				default:
				}
				continue // timeouts, ICMP errors: the sender goes on
			}
			if f := strings.Fields(string(buf[:n])); len(f) == 2 && f[0] == "seq" {
				if seq, err := strconv.ParseUint(f[1], 10, 64); err == nil {
					emit("R %d %d", seq, now.UnixNano())
				}
			}
		}
	}()
	go func() { // sender
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-stop:
				// Late echoes still count.
				time.Sleep(300 * time.Millisecond)
				_ = c.Close()
				return
			case <-tick.C:
			}
			now := time.Now()
			_, _ = c.Write([]byte("seq " + strconv.FormatUint(seq, 10)))
			emit("U %d %d", seq, now.UnixNano())
		}
	}()
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func startARP(iface, mac string, stop <-chan struct{}, wg *sync.WaitGroup) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	var watch net.HardwareAddr
	proto := uint16(syscall.ETH_P_ARP)
	if mac != "" {
		if watch, err = net.ParseMAC(mac); err != nil {
			return err
		}
		proto = syscall.ETH_P_ALL
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(proto)))
	if err != nil {
		return err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifi.Index}); err != nil {
		return err
	}
	tv := syscall.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer syscall.Close(fd)
		buf := make([]byte, 1600)
		var lastWatched time.Time
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, _, err := syscall.Recvfrom(fd, buf, 0)
			now := time.Now()
			if err != nil || n < 14 {
				continue
			}
			src := net.HardwareAddr(buf[6:12])
			etype := binary.BigEndian.Uint16(buf[12:14])
			if watch != nil && bytes.Equal(src, watch) {
				if now.Sub(lastWatched) >= 50*time.Millisecond {
					emit("M %d %s", now.UnixNano(), describe(buf[:n]))
				}
				lastWatched = now
			}
			if etype != syscall.ETH_P_ARP || n < 14+28 {
				continue
			}
			a := buf[14:]
			if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != 0x0800 {
				continue
			}
			op := "request"
			if binary.BigEndian.Uint16(a[6:8]) == 2 {
				op = "reply"
			}
			emit("A %d %s %s %s %s %s %s", now.UnixNano(), op,
				net.HardwareAddr(a[8:14]), net.IP(a[14:18]), net.HardwareAddr(a[18:24]), net.IP(a[24:28]), src)
		}
	}()
	return nil
}

// describe names a frame: ethertype, and for IPv4 the protocol and addresses.
func describe(f []byte) string {
	etype := binary.BigEndian.Uint16(f[12:14])
	dst := net.HardwareAddr(f[0:6])
	switch {
	case etype == syscall.ETH_P_ARP && len(f) >= 42:
		a := f[14:]
		op := "arp-request"
		if binary.BigEndian.Uint16(a[6:8]) == 2 {
			op = "arp-reply"
		}
		return fmt.Sprintf("%s:%s>%s(to:%s)", op, net.IP(a[14:18]), net.IP(a[24:28]), dst)
	case etype == syscall.ETH_P_IP && len(f) >= 34:
		ip := f[14:]
		proto := map[byte]string{1: "icmp", 6: "tcp", 17: "udp"}[ip[9]]
		if proto == "" {
			proto = fmt.Sprint(ip[9])
		}
		return fmt.Sprintf("ipv4-%s:%s>%s(to:%s)", proto, net.IP(ip[12:16]), net.IP(ip[16:20]), dst)
	}
	return fmt.Sprintf("ethertype-0x%04x(to:%s)", etype, dst)
}
