//go:build ignore

// udpecho is the UDP echo service (port 7) of the test bed's busybox
// image: Debian's busybox-static has no UDP server applet (its nc has no
// -u, there is no udpsvd). build-busybox.sh builds it static with
// `go build udpecho.go`; the ignore tag keeps it out of ./... .
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	port := "7"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	c, err := net.ListenPacket("udp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "udpecho:", err)
		os.Exit(1)
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "udpecho:", err)
			os.Exit(1)
		}
		_, _ = c.WriteTo(buf[:n], from)
	}
}
