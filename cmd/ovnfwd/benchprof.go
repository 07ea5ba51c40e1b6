//go:build benchprof

package main

// A profiling build (`go build -tags benchprof`, used by integration/bench.sh):
// CPU and heap profiles of one-shot commands.
//   OVNFWD_CPUPROFILE=FILE  CPU profile of the whole process
//   OVNFWD_MEMPROFILE=FILE  heap profile at exit (alloc_space and inuse_space)

import (
	"os"
	"runtime"
	"runtime/pprof"
)

var benchProfFile *os.File

func init() {
	exit = benchExit
	if p := os.Getenv("OVNFWD_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			benchProfFile = f
		}
	}
}

func benchStop() {
	if benchProfFile != nil {
		pprof.StopCPUProfile()
		_ = benchProfFile.Close()
		benchProfFile = nil
	}
	if p := os.Getenv("OVNFWD_MEMPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			runtime.GC()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			_ = f.Close()
		}
	}
}

func benchExit(code int) {
	benchStop()
	os.Exit(code)
}
