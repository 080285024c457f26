// The latency workloads (gort: benches/src/workloads/latency.rs):
// soak_latency, a 20 s run of the long soak's mix (package soak), and
// sleeper, one goroutine doing 1 ms sleeps next to one ping-pong pair on
// GOMAXPROCS=1. Each prints "latency NAME n=.. p50=.. p99=.. p99.9=..
// max=.." lines in µs, which the comparison program tabulates.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gortbench/soak"
)

func init() {
	workloads["soak_latency"] = soakLatency
	workloads["sleeper"] = sleeper
}

// soakLatency runs the soak's mix for SOAK_LATENCY_SECS (default 20) s on
// GOMAXPROCS Ps; prints its latency lines and whether its checks passed.
func soakLatency() {
	cfg := soak.Default()
	cfg.Secs = 20
	if v, err := strconv.Atoi(os.Getenv("SOAK_LATENCY_SECS")); err == nil {
		cfg.Secs = v
	}
	cfg.Procs = runtime.GOMAXPROCS(0)
	cfg.Verbose = false
	r := soak.Run(cfg)
	for _, l := range r.Latency {
		fmt.Println(l)
	}
	for _, c := range r.Checks {
		if strings.Contains(c, " FAIL ") {
			fmt.Println(c)
		}
	}
	if r.Passed {
		fmt.Println("soak checks passed")
	} else {
		fmt.Println("soak checks FAILED")
		os.Exit(1)
	}
}

// sleeper: on one P, a ping-pong pair bouncing as fast as it can and a
// goroutine sleeping 1 ms at a time for 3 s; prints the pair's round trips
// and how long past 1 ms each sleep took (sleeper_late_us).
func sleeper() {
	runtime.GOMAXPROCS(1)
	var stop atomic.Bool
	a, b := make(chan uint64), make(chan uint64)
	go func() {
		for v := range a {
			b <- v + 1
		}
	}()
	type res struct {
		n uint64
		d time.Duration
	}
	done := make(chan res)
	go func() {
		var n uint64
		t := time.Now()
		for !stop.Load() {
			a <- n
			n = <-b
		}
		close(a)
		done <- res{n, time.Since(t)}
	}()
	var late soak.Hist
	const want = time.Millisecond
	t := time.Now()
	for time.Since(t) < 3*time.Second {
		s := time.Now()
		time.Sleep(want)
		late.RecordLate(time.Since(s), want)
	}
	stop.Store(true)
	r := <-done
	report("sleeper", int(r.n), r.d)
	fmt.Println(late.Line("sleeper_late_us"))
}
