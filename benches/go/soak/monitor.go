package soak

// The monitor (gort: monitor.rs): samples RSS, fds and threads from
// /proc/self, ends the run at Secs, and reports a hang (no worker made
// progress for StallSecs mid-run, or the joins not done JoinSecs after the
// stop) with a goroutine dump, exiting with status 1. A single worker
// without progress for StallSecs is a stall: printed (at most 3 times) and
// counted, not a failure by itself (an overloaded machine starves workers
// that long in Go and gort alike). In Go it is a goroutine: Go's scheduler
// is the reference, not the thing under test.

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

type procSample struct{ rssKB, fds, threads uint64 }

func countDir(p string) uint64 {
	es, err := os.ReadDir(p)
	if err != nil {
		return 0
	}
	return uint64(len(es))
}

func procNow() procSample {
	var rss uint64
	if f, err := os.Open("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if r, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				if fs := strings.Fields(r); len(fs) > 0 {
					rss, _ = strconv.ParseUint(fs[0], 10, 64)
				}
			}
		}
		f.Close()
	}
	return procSample{rss, countDir("/proc/self/fd"), countDir("/proc/self/task")}
}

func (p procSample) describe() string {
	return fmt.Sprintf("rss_kb=%d fds=%d threads=%d", p.rssKB, p.fds, p.threads)
}

type sample struct {
	t          uint64
	p          procSample
	goroutines int
}

func work(sh *shared) string {
	s := sh.progress.sum
	return fmt.Sprintf("pp=%d prod=%d cons=%d mu=%d tm=%d ctx=%d tcp=%d", s(ppSend), s(producer), s(consumer),
		s(mutexWorker), s(timerLooper), s(ctxBuilder), sh.tcp.msgs.Load())
}

// stalls is the longest any worker went without progress mid-run.
type stalls struct {
	workers    int
	worst      time.Duration
	worstLabel string
}

func watch(sh *shared) ([]sample, stalls) {
	cfg := &sh.cfg
	stall := time.Duration(cfg.StallSecs) * time.Second
	start := time.Now()
	var samples []sample
	var st stalls
	nextSample := cfg.SampleEvery()
	last := sh.progress.snapshot()
	moved := make([]time.Time, len(last))
	stalled := make([]bool, len(last))
	for i := range moved {
		moved[i] = start
	}
	anyMoved, printed := start, 0
	nextCheck := time.Second
	for {
		time.Sleep(50 * time.Millisecond)
		el := time.Since(start)
		switch sh.phase.Load() {
		case phaseJoined:
			return samples, st
		case phaseStopping:
			if time.Duration(sh.nowNs()-sh.stopNs.Load()) >= time.Duration(cfg.JoinSecs)*time.Second {
				var open []string
				for i, v := range sh.progress.snapshot() {
					if v&finished == 0 {
						open = append(open, fmt.Sprintf("%s (count %d) never ended", sh.progress.label(i), v))
					}
				}
				hang(sh, fmt.Sprintf("the joins did not finish within %d s of the stop", cfg.JoinSecs), open, samples, st)
			}
			continue
		}
		if el >= nextSample {
			s := sample{uint64(el.Seconds()), procNow(), runtime.NumGoroutine()}
			if cfg.Verbose {
				fmt.Printf("sample t=%ds %s goroutines=%d %s\n", s.t, s.p.describe(), s.goroutines, work(sh))
			}
			samples = append(samples, s)
			nextSample += cfg.SampleEvery()
		}
		if el >= nextCheck {
			nextCheck += time.Second
			now := time.Now()
			var fresh []string
			for i, v := range sh.progress.snapshot() {
				if v != last[i] {
					last[i], moved[i], stalled[i], anyMoved = v, now, false, now
					continue
				}
				idle := now.Sub(moved[i])
				if idle > st.worst {
					st.worst, st.worstLabel = idle, sh.progress.label(i)
				}
				if idle >= stall && !stalled[i] {
					stalled[i] = true
					st.workers++
					fresh = append(fresh, fmt.Sprintf("%s (count %d, idle %.1f s)", sh.progress.label(i), v&^finished, idle.Seconds()))
				}
			}
			if now.Sub(anyMoved) >= stall {
				hang(sh, fmt.Sprintf("no worker made progress for %d s mid-run", cfg.StallSecs), nil, samples, st)
			}
			if len(fresh) > 0 && printed < 3 {
				printed++
				fmt.Printf("STALL t=%ds: %d worker(s) without progress (not a failure by itself):\n", int(el.Seconds()), len(fresh))
				for i, f := range fresh {
					if i == 10 {
						break
					}
					fmt.Printf("  stalled: %s\n", f)
				}
				dumpSummary()
			}
		}
		if el >= time.Duration(cfg.Secs)*time.Second && sh.phase.Load() == phaseRunning {
			sh.stopNs.Store(sh.nowNs())
			sh.stop.Store(true)
			sh.phase.Store(phaseStopping)
			if cfg.Verbose {
				fmt.Printf("stopping t=%ds goroutines=%d %s\n", int(el.Seconds()), runtime.NumGoroutine(), work(sh))
			}
		}
	}
}

var header = regexp.MustCompile(`^goroutine \d+ \[([^,\]]+)`)

// dumpSummary prints the goroutines grouped by state; returns the dump.
func dumpSummary() []byte {
	buf := make([]byte, 64<<20)
	buf = buf[:runtime.Stack(buf, true)]
	by := map[string]int{}
	for _, l := range strings.Split(string(buf), "\n") {
		if m := header.FindStringSubmatch(l); m != nil {
			by[m[1]]++
		}
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("goroutines: %d (by state):\n", runtime.NumGoroutine())
	for _, k := range keys {
		fmt.Printf("  %6d [%s]\n", by[k], k)
	}
	return buf
}

func hang(sh *shared, why string, stuck []string, samples []sample, st stalls) {
	fmt.Printf("HANG: %s\n", why)
	for i, s := range stuck {
		if i == 40 {
			fmt.Printf("  ... and %d more\n", len(stuck)-40)
			break
		}
		fmt.Printf("  %s\n", s)
	}
	buf := dumpSummary()
	fmt.Printf("proc now: %s\n", procNow().describe())
	fmt.Printf("work so far: %s\n", work(sh))
	fmt.Fprintf(os.Stderr, "goroutine dump:\n%s\n", buf)
	r := partial(sh, samples, st, why)
	fmt.Println(r.Summary)
	os.Exit(1)
}
