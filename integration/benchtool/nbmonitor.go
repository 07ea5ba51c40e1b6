//go:build bench

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// monitorNB is the plain OVSDB JSON-RPC loop that nb-txns and txn-count
// share: it dials the unix NB endpoint in OVNFWD_NB, sends one monitor
// request (method, params), answers echo, creates ready (when not "") once
// the server has accepted the monitor, and hands every notification
// (method and params) to onUpdate until SIGINT/SIGTERM. onUpdate runs on
// the reading goroutine; monitorNB returns only after it has stopped
// being called, or with the connection's error.
func monitorNB(tool, method string, params []any, ready string, onUpdate func(method string, params []json.RawMessage)) error {
	ep := mustEnv("OVNFWD_NB")
	if !strings.HasPrefix(ep, "unix:") {
		return fmt.Errorf("%s needs a unix: NB endpoint, not %s", tool, ep)
	}
	c, err := net.Dial("unix", strings.TrimPrefix(ep, "unix:"))
	if err != nil {
		return err
	}
	defer c.Close()
	enc, dec := json.NewEncoder(c), json.NewDecoder(c)
	if err := enc.Encode(map[string]any{"id": 1, "method": method, "params": params}); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	done := make(chan error, 1)
	go func() {
		for {
			var m struct {
				ID     any               `json:"id"`
				Method string            `json:"method"`
				Params []json.RawMessage `json:"params"`
				Error  any               `json:"error"`
			}
			if err := dec.Decode(&m); err != nil {
				done <- err
				return
			}
			switch {
			case m.Method == "echo":
				_ = enc.Encode(map[string]any{"id": m.ID, "result": m.Params, "error": nil})
			case m.ID != nil && m.Method == "":
				if m.Error != nil {
					done <- fmt.Errorf("%s: %v", method, m.Error)
					return
				}
				if ready != "" {
					_ = os.WriteFile(ready, nil, 0o644)
				}
			default:
				onUpdate(m.Method, m.Params)
			}
		}
	}()
	select {
	case <-stop:
		c.Close() // the reader's Decode fails: it stops calling onUpdate
		<-done
		return nil
	case err := <-done:
		return err
	}
}
