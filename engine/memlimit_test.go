package engine

import (
	"runtime/debug"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]MemoryLimit{
		"auto": {auto: true}, "": {}, "off": {}, "0": {},
		"512MiB": {fixed: 512 << 20}, "1GiB": {fixed: 1 << 30}, "300M": {fixed: 300 << 20}, "1.5g": {fixed: 3 << 29},
		"1048576": {fixed: 1 << 20},
	} {
		got, err := ParseMemoryLimit(in)
		if err != nil || got != want {
			t.Errorf("parseMemoryLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"lots", "-5MiB", "MiB", "12parsecs"} {
		if _, err := ParseMemoryLimit(bad); err == nil {
			t.Errorf("parseMemoryLimit(%q): no error", bad)
		}
	}
}

// auto follows the live heap, never below the floor.
func TestMemoryLimitAuto(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	keep := make([]byte, 100<<20) // 100 MiB live
	for i := range keep {
		keep[i] = byte(i)
	}
	debug.FreeOSMemory() // a GC: the live heap is measured
	limit := MemoryLimit{auto: true}.afterFullPass()
	if limit < 100<<20 || limit > 160<<20 || debug.SetMemoryLimit(-1) != limit {
		t.Errorf("auto limit with ~100 MiB live: %d MiB", limit>>20)
	}
	if keep[len(keep)-1] == 0 && keep[1] != 1 {
		t.Fatal("unreachable")
	}
	if got := (MemoryLimit{}).afterFullPass(); got != 0 {
		t.Errorf("off set a limit: %d", got)
	}
}
