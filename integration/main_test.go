//go:build integration

package integration

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
)

// TestMain serializes every integration test run on the shared bed: tests
// create forwards, edit NB and kill chassis, so two runs at once would
// disturb each other.
func TestMain(m *testing.M) {
	lock := LockFile()
	f, err := os.OpenFile(lock, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "test bed lock %s: %v\n", lock, err)
		os.Exit(2)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		fmt.Fprintf(os.Stderr, "test bed lock %s: %v\n", lock, err)
		os.Exit(2)
	}
	code := m.Run()
	// The lock lives as long as f is open: without this, the garbage
	// collector finalizes f (closing it, releasing the lock) mid-run.
	runtime.KeepAlive(f)
	os.Exit(code)
}
