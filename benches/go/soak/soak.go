// Package soak is the Go twin of gort's long mixed soak (benches/src/soak,
// issue 12): thousands of goroutines doing ping-pong, select with
// timeouts, mutex contention, timer stop/reset, context cancellation
// trees and TCP echo on loopback for a fixed time, then a stop, the joins
// and the same checks, printing line for line what gort's soak prints.
// Started from ../shared/anchors/soak/main.go.
//
// One file per part of the mix, each with its counters and its check;
// progress.go holds the per-worker counters that show no goroutine is
// stuck; monitor.go samples the process, ends the run and reports a hang;
// report.go prints the checks; hist.go is the latency histogram (the same
// buckets as gort's).
package soak

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Latencies are the histograms the soak prints, in µs.
type Latencies struct {
	Timer   Hist // Timer.Reset(d) then <-C: time past d
	After   Hist // time.After and the 2 ms wait after Stop: time past the timeout
	Sleep   Hist // time.Sleep(d): time past d
	CtxWake Hist // root cancel to grandchild running
}

// shared is what the goroutines and the monitor share.
type shared struct {
	cfg      Config
	stop     atomic.Bool
	stopNs   atomic.Int64
	phase    atomic.Int32
	epoch    time.Time
	progress *progress
	lat      *Latencies
	pp       ppStats
	sel      *selStats
	mu       muStats
	tm       tmStats
	ctx      ctxStats
	tcp      tcpStats
}

const (
	phaseRunning int32 = iota
	phaseStopping
	phaseJoined
)

func (sh *shared) stopped() bool { return sh.stop.Load() }
func (sh *shared) nowNs() int64  { return time.Since(sh.epoch).Nanoseconds() }

// nap sleeps d, recording how late it returned.
func (sh *shared) nap(d time.Duration) {
	t := time.Now()
	time.Sleep(d)
	sh.lat.Sleep.RecordLate(time.Since(t), d)
}

// rng is the workers' xorshift generator, seeded as in gort's soak.
type rng uint64

func newRng(seed uint64) rng { return rng(max(seed, 1)) }

func (r *rng) below(n uint64) uint64 {
	*r ^= *r << 13
	*r ^= *r >> 7
	*r ^= *r << 17
	return uint64(*r) % n
}

// group runs and joins the long-lived workers, recovering their panics as
// gort's JoinHandle does.
type group struct {
	wg     sync.WaitGroup
	n      int
	mu     sync.Mutex
	panics []string
}

func (g *group) spawn(f func()) {
	g.n++
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				g.mu.Lock()
				g.panics = append(g.panics, fmt.Sprint(r))
				g.mu.Unlock()
			}
		}()
		f()
	}()
}

// Run runs the soak with cfg (GOMAXPROCS should be cfg.Procs), printing
// as it goes if cfg.Verbose; exits the process with status 1 on a hang.
func Run(cfg Config) Report {
	sh := &shared{cfg: cfg, epoch: time.Now(), lat: &Latencies{}}
	sh.progress = newProgress(cfg)
	sh.pp.init(cfg.Pairs)
	sh.sel = newSelStats(cfg.Producers)
	start := procNow()
	if cfg.Verbose {
		fmt.Printf("soak impl=go %s\n", cfg.Describe())
		fmt.Printf("start %s\n", start.describe())
	}
	base := runtime.NumGoroutine()
	type watched struct {
		ss []sample
		st stalls
	}
	w := make(chan watched, 1)
	go func() {
		ss, st := watch(sh)
		w <- watched{ss, st}
	}()

	var g group
	srv := serve(sh)
	spawnPingpong(sh, &g)
	spawnSelects(sh, &g)
	spawnMutex(sh, &g)
	spawnTimers(sh, &g)
	spawnContexts(sh, &g)
	spawnClients(sh, srv.port, &g)
	g.wg.Wait()
	stopServer(sh, srv)
	joinedIn := time.Duration(sh.nowNs() - sh.stopNs.Load())
	sh.phase.Store(phaseJoined)
	drainSelects(sh)
	settleMutex(sh)
	ws := <-w
	leaks := leakCheck(base, 5*time.Second)
	return build(sh, start, ws.ss, ws.st, joinedIn, g.n+1, g.panics, leaks)
}

// leakCheck waits up to timeout for the goroutine count to return to
// base (gort's LeakCheck: everything started since is gone).
func leakCheck(base int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			return fmt.Errorf("found %d unexpected goroutine(s)", runtime.NumGoroutine()-base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// ProcNow is "rss_kb=.. fds=.. threads=.." of this process now.
func ProcNow() string { return procNow().describe() }
