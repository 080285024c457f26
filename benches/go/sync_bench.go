// The sync area's workloads (gort's versions: benches/src/workloads/sync.rs).
// They follow Go's own benchmarks in src/sync (BenchmarkWaitGroup*,
// BenchmarkRWMutexWrite100, BenchmarkOnce), with RunParallel's shape: one
// goroutine per P sharing N operations; plus a weighted semaphore.
package main

import (
	"container/list"
	"context"
	"runtime"
	"sync"
	"time"
)

// parallel runs body(iterations) on GOMAXPROCS goroutines, n operations in
// all, and reports the total time as name.
func parallel(name string, n int, body func(iters int)) {
	p := runtime.GOMAXPROCS(0)
	per := n / p
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(p)
	for i := 0; i < p; i++ {
		go func() {
			defer wg.Done()
			body(per)
		}()
	}
	wg.Wait()
	report(name, per*p, time.Since(t))
}

// waitgroup: BenchmarkWaitGroupUncontended (a private padded WaitGroup per
// goroutine: Add, Done, Wait) and BenchmarkWaitGroupAddDone (one shared
// WaitGroup: Add, Done).
func waitgroupBench() {
	type paddedWaitGroup struct {
		sync.WaitGroup
		pad [128]uint8
	}
	parallel("waitgroup_uncontended", 40_000_000, func(iters int) {
		var wg paddedWaitGroup
		for i := 0; i < iters; i++ {
			wg.Add(1)
			wg.Done()
			wg.Wait()
		}
	})
	var shared sync.WaitGroup
	parallel("waitgroup_add_done", 40_000_000, func(iters int) {
		for i := 0; i < iters; i++ {
			shared.Add(1)
			shared.Done()
		}
	})
}

// rwmutex: BenchmarkRWMutexWrite100: a shared RWMutex, one write lock per
// 100 operations, read locks otherwise (no work inside).
func rwmutexBench() {
	var rwm sync.RWMutex
	parallel("rwmutex_write100", 20_000_000, func(iters int) {
		foo := 0
		for i := 0; i < iters; i++ {
			foo++
			if foo%100 == 0 {
				rwm.Lock()
				rwm.Unlock()
			} else {
				rwm.RLock()
				rwm.RUnlock()
			}
		}
	})
}

// once: BenchmarkOnce: the fast path of a done Once, in parallel.
func onceBench() {
	var once sync.Once
	f := func() {}
	parallel("once", 400_000_000, func(iters int) {
		for i := 0; i < iters; i++ {
			once.Do(f)
		}
	})
}

// weighted restates the algorithm of golang.org/x/sync/semaphore.Weighted
// (a mutex, a FIFO list of waiters each with a channel closed when its
// units are granted, head-of-line blocking) without the context, which a
// background context makes a no-op. The x/sync module cannot be fetched
// here; this is the baseline gort's Semaphore is compared with.
type weighted struct {
	size, cur int64
	mu        sync.Mutex
	waiters   list.List
}

type weightedWaiter struct {
	n     int64
	ready chan struct{}
}

func (s *weighted) acquire(n int64) {
	s.mu.Lock()
	if s.size-s.cur >= n && s.waiters.Len() == 0 {
		s.cur += n
		s.mu.Unlock()
		return
	}
	ready := make(chan struct{})
	s.waiters.PushBack(weightedWaiter{n, ready})
	s.mu.Unlock()
	<-ready
}

func (s *weighted) release(n int64) {
	s.mu.Lock()
	s.cur -= n
	if s.cur < 0 {
		s.mu.Unlock()
		panic("semaphore: released more than held")
	}
	for {
		e := s.waiters.Front()
		if e == nil {
			break
		}
		w := e.Value.(weightedWaiter)
		if s.size-s.cur < w.n {
			break
		}
		s.cur += w.n
		s.waiters.Remove(e)
		close(w.ready)
	}
	s.mu.Unlock()
}

// semaphore: acquire(1)/release(1) pairs, uncontended (one goroutine) and
// contended (8 goroutines on a semaphore of size 2).
func semaphoreBench() {
	s := &weighted{size: 1}
	n := 10_000_000
	t := time.Now()
	for i := 0; i < n; i++ {
		s.acquire(1)
		s.release(1)
	}
	report("semaphore_uncontended", n, time.Since(t))

	const g = 8
	c := &weighted{size: 2}
	n = 2_000_000
	per := n / g
	var wg sync.WaitGroup
	t = time.Now()
	wg.Add(g)
	for i := 0; i < g; i++ {
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				c.acquire(1)
				c.release(1)
			}
		}()
	}
	wg.Wait()
	report("semaphore_contended", per*g, time.Since(t))
}

// ctxCancelTree: a tree of 10,000 contexts (each parent gets 4 children,
// breadth first) under one root; 4 goroutines wait on the leaves' Done
// channels; the root is cancelled and every waiter returns once all its
// leaves are done. Reports the time per context, building, cancelling
// and waiting included.
func ctxCancelTree() {
	const n, fanout, waiters, rounds = 10_000, 4, 4, 50
	t := time.Now()
	for r := 0; r < rounds; r++ {
		root, cancel := context.WithCancel(context.Background())
		nodes := make([]context.Context, 0, n)
		nodes = append(nodes, root)
		parents := 0
		for len(nodes) < n {
			parent := nodes[parents]
			for j := 0; j < fanout && len(nodes) < n; j++ {
				c, _ := context.WithCancel(parent) // cancelled with the root
				nodes = append(nodes, c)
			}
			parents++
		}
		leaves := nodes[parents:]
		per := (len(leaves) + waiters - 1) / waiters
		var wg sync.WaitGroup
		wg.Add(waiters)
		for w := 0; w < waiters; w++ {
			lo, hi := min(w*per, len(leaves)), min((w+1)*per, len(leaves))
			go func(ls []context.Context) {
				defer wg.Done()
				for _, l := range ls {
					<-l.Done()
				}
			}(leaves[lo:hi])
		}
		cancel()
		wg.Wait()
		for _, l := range leaves {
			if l.Err() != context.Canceled {
				panic("leaf not canceled")
			}
		}
	}
	report("ctx_cancel_tree", n*rounds, time.Since(t))
}

func init() {
	workloads["ctx_cancel_tree"] = ctxCancelTree
	workloads["waitgroup"] = waitgroupBench
	workloads["rwmutex"] = rwmutexBench
	workloads["once"] = onceBench
	workloads["semaphore"] = semaphoreBench
}
