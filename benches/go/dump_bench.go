package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

func init() {
	workloads["dump"] = func() { dump(100_000) }
}

// hwmKB reads the peak resident set size from /proc/self/status.
func hwmKB() int {
	b, _ := os.ReadFile("/proc/self/status")
	var kb int
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Sscanf(strings.TrimSpace(line[6:]), "%d", &kb)
		}
	}
	return kb
}

//go:noinline
func dumpWaiter(release chan struct{}, started, done *sync.WaitGroup) {
	started.Done()
	<-release
	done.Done()
}

// dump: the full goroutine dump (every stack, as SIGQUIT prints it) of N
// goroutines parked in a channel receive; reports the time per goroutine,
// the dump's size and how much it raised the peak RSS.
func dump(n int) {
	var started, done sync.WaitGroup
	release := make(chan struct{})
	started.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go dumpWaiter(release, &started, &done)
	}
	started.Wait()
	hwm := hwmKB()
	t := time.Now()
	buf := make([]byte, 64<<20)
	for {
		m := runtime.Stack(buf, true)
		if m < len(buf) {
			buf = buf[:m]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	d := time.Since(t)
	close(release)
	done.Wait()
	report("dump", n, d)
	fmt.Printf("dump_bytes %d\n", len(buf))
	fmt.Printf("dump_peak_rss_added_kb %d\n", hwmKB()-hwm)
}
