package soak

// Timer loopers (gort: timers.rs): each drives one time.Timer through, at
// random, Stop then a 2 ms wait (no value may arrive after Stop), Reset
// (0.5–3.5 ms) then <-C (not early, not stale; lateness recorded), or
// Reset(1 ms) then a 0–2 ms sleep.

import (
	"fmt"
	"sync/atomic"
	"time"
)

type tmStats struct{ stoppedThenFired, early, closed atomic.Uint64 }

func spawnTimers(sh *shared, g *group) {
	for t := range sh.cfg.Timers {
		g.spawn(func() { loopTimer(sh, t) })
	}
}

func loopTimer(sh *shared, i int) {
	beat := sh.progress.beat(timerLooper, i)
	defer finish(beat)
	r := newRng(uint64(i) + 999)
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	for !sh.stopped() {
		switch r.below(3) {
		case 0:
			t.Stop()
			const wait = 2 * time.Millisecond
			start := time.Now()
			select {
			case <-t.C:
				sh.tm.stoppedThenFired.Add(1)
			case <-time.After(wait):
				sh.lat.After.RecordLate(time.Since(start), wait)
			}
		case 1:
			d := time.Duration(500+r.below(3000)) * time.Microsecond
			start := time.Now()
			t.Reset(d)
			at := <-t.C
			el := time.Since(start)
			if el < d || at.Before(start) {
				sh.tm.early.Add(1)
			}
			sh.lat.Timer.RecordLate(el, d)
		default:
			t.Reset(time.Millisecond)
			sh.nap(time.Duration(r.below(2000)) * time.Microsecond)
		}
		beat.Store(beat.Load() + 1)
	}
}

func checkTimers(sh *shared, c *checks) {
	stf, early, closed := sh.tm.stoppedThenFired.Load(), sh.tm.early.Load(), sh.tm.closed.Load()
	ops := sh.progress.sum(timerLooper)
	c.add("timers", stf == 0 && early == 0 && closed == 0 && (sh.cfg.Timers == 0 || ops > 0),
		fmt.Sprintf("loopers=%d ops=%d stopped_then_fired=%d early_or_stale=%d closed=%d", sh.cfg.Timers, ops, stf, early, closed))
}
