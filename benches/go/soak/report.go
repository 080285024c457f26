package soak

// The checks and the output (gort: report.rs), line for line the same:
// check lines, latency lines (µs), series lines, the stalls line, and the
// SOAK summary.
// Growth checks leave out the warm-up (samples before a fifth of the run,
// at least 10 s) and compare the largest sample of the last third of the
// rest with the largest of its first third: fds may grow by a quarter plus
// 64, RSS by half plus 32 MiB (skipped with fewer than 6 samples). fds
// never exceed the start's plus three per client plus 64, and threads stay
// within the bound at every sample.

import (
	"fmt"
	"strings"
	"time"
)

type check struct {
	name   string
	ok     bool
	detail string
}

type checks struct{ list []check }

func (c *checks) add(name string, ok bool, detail string) {
	c.list = append(c.list, check{name, ok, detail})
}

func (c *checks) failed() []string {
	var f []string
	for _, x := range c.list {
		if !x.ok {
			f = append(f, x.name)
		}
	}
	return f
}

// Report is what a run printed and whether it passed.
type Report struct {
	Passed                  bool
	Checks, Latency, Series []string
	Summary                 string
}

// Print prints every line.
func (r *Report) Print() {
	for _, ls := range [][]string{r.Checks, r.Latency, r.Series} {
		for _, l := range ls {
			fmt.Println(l)
		}
	}
	fmt.Println(r.Summary)
}

func thirds(v []uint64) (uint64, uint64, bool) {
	if len(v) < 6 {
		return 0, 0, false
	}
	k := len(v) / 3
	mx := func(s []uint64) uint64 {
		var m uint64
		for _, x := range s {
			m = max(m, x)
		}
		return m
	}
	return mx(v[:k]), mx(v[len(v)-k:]), true
}

func col(ss []sample, f func(sample) uint64) []uint64 {
	out := make([]uint64, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

func maxOf(ss []sample, f func(sample) uint64) uint64 {
	var m uint64
	for _, s := range ss {
		m = max(m, f(s))
	}
	return m
}

func growth(sh *shared, start procSample, ss []sample, c *checks) {
	warm := uint64(max(sh.cfg.Secs/5, 10))
	var steady []sample
	for _, s := range ss {
		if s.t >= warm {
			steady = append(steady, s)
		}
	}
	for _, g := range []struct {
		name        string
		v           []uint64
		frac, slack uint64
	}{
		{"fds", col(steady, func(s sample) uint64 { return s.p.fds }), 4, 64},
		{"rss", col(steady, func(s sample) uint64 { return s.p.rssKB }), 2, 32 * 1024},
	} {
		first, last, ok := thirds(g.v)
		if !ok {
			c.add(g.name, true, fmt.Sprintf("skipped: %d samples after the %d s warm-up, need 6", len(g.v), warm))
			continue
		}
		bound := first + first/g.frac + g.slack
		c.add(g.name, last <= bound, fmt.Sprintf("first_third_max=%d last_third_max=%d bound=%d", first, last, bound))
	}
	fds, fdBound := maxOf(ss, func(s sample) uint64 { return s.p.fds }), start.fds+3*uint64(sh.cfg.Clients)+64
	c.add("fds_max", fds <= fdBound, fmt.Sprintf("max=%d bound=%d (start %d + 3 per client + 64)", fds, fdBound, start.fds))
	threads, bound := maxOf(ss, func(s sample) uint64 { return s.p.threads }), uint64(sh.cfg.ThreadBound())
	c.add("threads", threads <= bound, fmt.Sprintf("max=%d bound=%d (max_procs %d + 8 Ms in reserve + main, monitor, sysmon, sigquit)", threads, bound, sh.cfg.Procs))
}

func series(ss []sample) []string {
	line := func(name string, f func(sample) uint64) string {
		v := make([]string, len(ss))
		for i, s := range ss {
			v[i] = fmt.Sprint(f(s))
		}
		return fmt.Sprintf("series %s %s", name, strings.Join(v, " "))
	}
	return []string{
		line("t_s", func(s sample) uint64 { return s.t }),
		line("rss_kb", func(s sample) uint64 { return s.p.rssKB }),
		line("fds", func(s sample) uint64 { return s.p.fds }),
		line("threads", func(s sample) uint64 { return s.p.threads }),
		line("goroutines", func(s sample) uint64 { return uint64(s.goroutines) }),
	}
}

func latency(sh *shared) []string {
	l := sh.lat
	return []string{l.Timer.Line("timer_late_us"), l.After.Line("after_late_us"), l.Sleep.Line("sleep_late_us"), l.CtxWake.Line("ctx_wake_us")}
}

func stallsLine(st stalls) string {
	w := st.worstLabel
	if w == "" {
		w = "-"
	}
	return fmt.Sprintf("stalls workers=%d worst_ms=%d worst=%s", st.workers, st.worst.Milliseconds(), w)
}

func summary(sh *shared, result string, failed []string, ss []sample, st stalls, extra string) string {
	q := func(h *Hist, n string) string {
		return fmt.Sprintf("%s_p50=%d %s_p99=%d %s_p999=%d %s_max=%d", n, h.Quantile(0.5), n, h.Quantile(0.99), n, h.Quantile(0.999), n, h.Max())
	}
	mx := func(f func(sample) uint64) uint64 { return maxOf(ss, f) }
	f := "-"
	if len(failed) > 0 {
		f = strings.Join(failed, ",")
	}
	s := sh.progress.sum
	l := sh.lat
	return fmt.Sprintf("SOAK impl=go result=%s failed=%s procs=%d secs=%d pp=%d prod=%d cons=%d mu=%d tm=%d ctx=%d "+
		"tcp=%d%s rss_kb_max=%d fds_max=%d threads_max=%d thread_bound=%d stalled_workers=%d worst_stall_ms=%d %s %s %s %s",
		result, f, sh.cfg.Procs, sh.cfg.Secs, s(ppSend), s(producer), s(consumer), s(mutexWorker), s(timerLooper),
		s(ctxBuilder), sh.tcp.msgs.Load(), extra,
		mx(func(s sample) uint64 { return s.p.rssKB }), mx(func(s sample) uint64 { return s.p.fds }),
		mx(func(s sample) uint64 { return s.p.threads }), sh.cfg.ThreadBound(), st.workers, st.worst.Milliseconds(),
		q(&l.Timer, "timer"), q(&l.After, "after"), q(&l.Sleep, "sleep"), q(&l.CtxWake, "ctx"))
}

func build(sh *shared, start procSample, ss []sample, st stalls, joinedIn time.Duration, goroutines int, panics []string, leaks error) Report {
	var c checks
	first := ""
	if len(panics) > 0 {
		first = " first: " + panics[0]
	}
	c.add("joins", len(panics) == 0, fmt.Sprintf("goroutines=%d joined_in_ms=%d panics=%d%s", goroutines, joinedIn.Milliseconds(), len(panics), first))
	checkPingpong(sh, &c)
	checkSelects(sh, &c)
	checkMutex(sh, &c)
	checkTimers(sh, &c)
	checkContexts(sh, &c)
	checkTCP(sh, &c)
	if leaks == nil {
		c.add("leaks", true, "no goroutine left after the joins")
	} else {
		c.add("leaks", false, leaks.Error())
	}
	growth(sh, start, ss, &c)
	end := procNow()
	fdBound := start.fds + 8
	c.add("fds_end", end.fds <= fdBound, fmt.Sprintf("start=%d end=%d bound=%d (start + the runtime's poller fds)", start.fds, end.fds, fdBound))
	failed := c.failed()
	result := "pass"
	if len(failed) > 0 {
		result = "fail"
	}
	r := Report{Passed: len(failed) == 0, Latency: latency(sh), Series: append(series(ss), stallsLine(st))}
	for _, x := range c.list {
		st := "ok"
		if !x.ok {
			st = "FAIL"
		}
		r.Checks = append(r.Checks, fmt.Sprintf("check %s %s %s", x.name, st, x.detail))
	}
	r.Summary = summary(sh, result, failed, ss, st, fmt.Sprintf(" joined_ms=%d", joinedIn.Milliseconds()))
	return r
}

func partial(sh *shared, ss []sample, st stalls, why string) Report {
	r := Report{Latency: latency(sh), Series: append(series(ss), stallsLine(st))}
	r.Summary = summary(sh, "hang", []string{"hang"}, ss, st, fmt.Sprintf(" hang=%q", why))
	for _, l := range append(r.Latency, r.Series...) {
		fmt.Println(l)
	}
	return r
}
