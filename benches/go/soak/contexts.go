package soak

// Context trees (gort: contexts.rs): root → 5 children (WithTimeout and
// WithCancel alternately) → 4 grandchildren each, one goroutine per
// grandchild selecting on Done(), its tick channel and time.After(3 ms).
// The builder sends each grandchild one tick, sleeps 0–10 ms, stamps the
// time and cancels the root; each grandchild records cancel-to-wake,
// checks Err() is Canceled, and signals the WaitGroup the builder waits on.
// Under overload a tree can outlive the timeout children's 10 s: their
// grandchildren then end with DeadlineExceeded (counted as expired, allowed
// only under a timeout child at least 10 s old, no cancel-to-wake), and the
// builder's tick send gives up when the grandchild's parent is done
// (ticks_skipped) instead of blocking forever.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

const (
	nChildren      = 5
	nGrandchildren = 4
	ctxTimeout     = 10 * time.Second
)

type ctxStats struct {
	started, woken, ticksSent, ticksGot, ticksSkipped, expired, wrongErr atomic.Uint64
}

type tickTo struct {
	c      chan struct{}
	parent context.Context
}

func spawnContexts(sh *shared, g *group) {
	for b := range sh.cfg.Ctx {
		g.spawn(func() {
			beat := sh.progress.beat(ctxBuilder, b)
			defer finish(beat)
			r := newRng(uint64(b) + 4242)
			for !sh.stopped() {
				ctxTree(sh, &r)
				beat.Store(beat.Load() + 1)
			}
		})
	}
}

func ctxTree(sh *shared, r *rng) {
	root, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var cancelledAt atomic.Int64
	var keep []context.CancelFunc
	var ticks []tickTo
	born := time.Now()
	for k := range nChildren {
		timed := k%2 == 0
		var child context.Context
		var ccancel context.CancelFunc
		if timed {
			child, ccancel = context.WithTimeout(root, ctxTimeout)
		} else {
			child, ccancel = context.WithCancel(root)
		}
		for range nGrandchildren {
			gc, gcancel := context.WithCancel(child)
			tick := make(chan struct{})
			ticks = append(ticks, tickTo{tick, child})
			wg.Add(1)
			sh.ctx.started.Add(1)
			go func() {
				defer wg.Done()
				defer gcancel()
				grandchild(sh, gc, tick, &cancelledAt, timed, born)
			}()
		}
		keep = append(keep, ccancel)
	}
	for _, t := range ticks {
		select {
		case t.c <- struct{}{}:
			sh.ctx.ticksSent.Add(1)
		case <-t.parent.Done():
			sh.ctx.ticksSkipped.Add(1)
		}
	}
	sh.nap(time.Duration(r.below(10)) * time.Millisecond)
	cancelledAt.Store(sh.nowNs())
	cancel()
	wg.Wait()
	for _, f := range keep {
		f()
	}
}

func grandchild(sh *shared, gc context.Context, tick chan struct{}, cancelledAt *atomic.Int64, timed bool, born time.Time) {
	const wait = 3 * time.Millisecond
loop:
	for {
		t := time.Now()
		select {
		case <-gc.Done():
			break loop
		case <-tick:
			sh.ctx.ticksGot.Add(1)
		case <-time.After(wait):
			sh.lat.After.RecordLate(time.Since(t), wait)
		}
	}
	woke := sh.nowNs()
	switch err := gc.Err(); {
	case err == context.Canceled:
		sh.lat.CtxWake.RecordUs(uint64(max(woke-cancelledAt.Load(), 0) / 1000))
	case err == context.DeadlineExceeded && timed && time.Since(born) >= ctxTimeout:
		sh.ctx.expired.Add(1)
	default:
		sh.ctx.wrongErr.Add(1)
	}
	sh.ctx.woken.Add(1)
}

func checkContexts(sh *shared, c *checks) {
	x := &sh.ctx
	started, woken, sent, got := x.started.Load(), x.woken.Load(), x.ticksSent.Load(), x.ticksGot.Load()
	skipped, expired, wrong := x.ticksSkipped.Load(), x.expired.Load(), x.wrongErr.Load()
	trees := sh.progress.sum(ctxBuilder)
	expect := trees * nChildren * nGrandchildren
	c.add("ctx", started == expect && woken == expect && sent+skipped == expect && got == sent && wrong == 0,
		fmt.Sprintf("trees=%d grandchildren_expected=%d started=%d woken=%d ticks_sent=%d ticks_received=%d ticks_skipped=%d expired=%d wrong_err=%d",
			trees, expect, started, woken, sent, got, skipped, expired, wrong))
}
