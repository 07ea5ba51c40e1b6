package engine

import (
	"fmt"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
)

// MemoryLimit is ovnfwd run's soft memory limit policy (--memory-limit).
//
// Go's collector lets the heap grow to twice what is live (GOGC=100), and a
// daemon whose live heap is 100 MiB at 10,000 forwards then sits at 250 MiB
// of RSS for nothing. "auto" keeps a soft limit (debug.SetMemoryLimit) a
// quarter above the live heap measured after each full pass, never below
// 64 MiB: the steady RSS follows what ovnfwd really holds, and because the
// limit follows the live heap it never forces the collector to run
// continuously (the cliff of a fixed limit below the live heap).
type MemoryLimit struct {
	auto  bool
	fixed int64 // bytes; 0 with auto or off
}

const (
	autoLimitFloor  = 64 << 20
	autoLimitFactor = 1.25
)

// ParseMemoryLimit reads "auto", "off" or a size (512MiB, 1GiB, 300M,
// bytes).
func ParseMemoryLimit(s string) (MemoryLimit, error) {
	switch v := strings.TrimSpace(s); strings.ToLower(v) {
	case "auto":
		return MemoryLimit{auto: true}, nil
	case "off", "none", "0", "":
		return MemoryLimit{}, nil
	default:
		units := []struct {
			suffix string
			mult   int64
		}{{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1}}
		lv := strings.ToLower(v)
		for _, u := range units {
			if num, ok := strings.CutSuffix(lv, u.suffix); ok {
				n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
				if err != nil || n <= 0 {
					break
				}
				return MemoryLimit{fixed: int64(n * float64(u.mult))}, nil
			}
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return MemoryLimit{fixed: n}, nil
		}
		return MemoryLimit{}, fmt.Errorf("--memory-limit %q: want auto, off or a size such as 256MiB", s)
	}
}

// apply sets a fixed limit once; GOMEMLIMIT in the environment wins over
// the flag (the Go runtime already applied it).
func (m MemoryLimit) apply() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if m.fixed > 0 {
		debug.SetMemoryLimit(m.fixed)
	}
}

// afterFullPass re-derives the auto limit from the live heap; it returns
// the limit set (0: none).
func (m MemoryLimit) afterFullPass() int64 {
	if !m.auto || os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	limit := max(int64(float64(s[0].Value.Uint64())*autoLimitFactor), autoLimitFloor)
	debug.SetMemoryLimit(limit)
	return limit
}
