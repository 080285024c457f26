// Pending cancellable tasks (gort's versions: benches/src/workloads/sched.rs):
// 100,000 then 1,000,000 no-op tasks due an hour from now (spread over a
// second), then all cancelled; reports ns per task for both phases together
// and for each, and the RSS per pending task on an extra line. Go frees the
// stopped timers at its next GC, after the measurement; gort frees them in
// the cancel phase.
//
//   - sched_group: one heap of tasks with one time.Timer and a monitor
//     goroutine (the design of mdlayher/schedgroup, written here in a few
//     lines so the program needs no module download); cancelling is
//     cancelling its context and waiting.
//   - sched_timer: a time.NewTimer per task, each stopped.
//   - sched_afterfunc: a time.AfterFunc per task, each stopped.
package main

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

func schedDelay(i int) time.Duration {
	return time.Hour + time.Duration(uint64(i)*7919%1_000_000)*time.Microsecond
}

var schedSizes = []struct {
	n    int
	name string
}{{100_000, "100k"}, {1_000_000, "1m"}}

func schedMeasure(name string, schedule func(n int) func()) {
	for _, s := range schedSizes {
		before := rssKB()
		t := time.Now()
		cancel := schedule(s.n)
		sched := time.Since(t)
		bytes := float64(rssKB()-before) * 1024 / float64(s.n)
		t2 := time.Now()
		cancel()
		c := time.Since(t2)
		report(fmt.Sprintf("%s_%s", name, s.name), s.n, sched+c)
		report(fmt.Sprintf("%s_%s_schedule", name, s.name), s.n, sched)
		report(fmt.Sprintf("%s_%s_cancel", name, s.name), s.n, c)
		fmt.Printf("%s_%s_bytes_per_pending_task %.0f\n", name, s.name, bytes)
	}
}

type schedTask struct {
	when time.Time
	fn   func()
}

type schedHeap []schedTask

func (h schedHeap) Len() int           { return len(h) }
func (h schedHeap) Less(i, j int) bool { return h[i].when.Before(h[j].when) }
func (h schedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *schedHeap) Push(x any)        { *h = append(*h, x.(schedTask)) }
func (h *schedHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// schedGroup: tasks in a heap, one timer armed for the earliest, a monitor
// goroutine that starts due tasks; add wakes it when a task becomes the
// earliest.
type schedGroup struct {
	mu    sync.Mutex
	tasks schedHeap
	wake  chan struct{}
	wg    sync.WaitGroup
}

func newSchedGroup(ctx context.Context) *schedGroup {
	g := &schedGroup{wake: make(chan struct{}, 1)}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		for {
			g.mu.Lock()
			now := time.Now()
			for len(g.tasks) > 0 && !g.tasks[0].when.After(now) {
				task := heap.Pop(&g.tasks).(schedTask)
				g.wg.Add(1)
				go func() { defer g.wg.Done(); task.fn() }()
			}
			var next time.Time
			if len(g.tasks) > 0 {
				next = g.tasks[0].when
			}
			g.mu.Unlock()
			if next.IsZero() {
				t.Stop()
			} else {
				t.Reset(time.Until(next))
			}
			select {
			case <-ctx.Done():
				return
			case <-g.wake:
			case <-t.C:
			}
		}
	}()
	return g
}

func (g *schedGroup) delay(d time.Duration, fn func()) {
	when := time.Now().Add(d)
	g.mu.Lock()
	earliest := len(g.tasks) == 0 || when.Before(g.tasks[0].when)
	heap.Push(&g.tasks, schedTask{when, fn})
	g.mu.Unlock()
	if earliest {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

func init() {
	workloads["sched_group"] = func() {
		schedMeasure("sched_group", func(n int) func() {
			ctx, cancel := context.WithCancel(context.Background())
			g := newSchedGroup(ctx)
			for i := 0; i < n; i++ {
				g.delay(schedDelay(i), func() {})
			}
			return func() {
				cancel()
				g.wg.Wait()
				g.mu.Lock()
				g.tasks = nil
				g.mu.Unlock()
			}
		})
	}
	workloads["sched_timer"] = func() {
		schedMeasure("sched_timer", func(n int) func() {
			ts := make([]*time.Timer, n)
			for i := range ts {
				ts[i] = time.NewTimer(schedDelay(i))
			}
			return func() {
				for _, t := range ts {
					if !t.Stop() {
						panic("timer fired")
					}
				}
			}
		})
	}
	workloads["sched_afterfunc"] = func() {
		schedMeasure("sched_afterfunc", func(n int) func() {
			ts := make([]*time.Timer, n)
			for i := range ts {
				ts[i] = time.AfterFunc(schedDelay(i), func() {})
			}
			return func() {
				for _, t := range ts {
					if !t.Stop() {
						panic("timer fired")
					}
				}
			}
		})
	}
}
