package soak

// Mutex contention (gort: mutex.rs): workers increment one counter under
// one sync.Mutex, yielding while holding it every 100 locks and sleeping
// 500 µs every 1,000; the counter must equal the sum of the workers' own
// counts.

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

type muStats struct {
	mu         sync.Mutex
	counter    uint64
	increments atomic.Uint64
	last       uint64
}

func spawnMutex(sh *shared, g *group) {
	for w := range sh.cfg.Mutex {
		g.spawn(func() { muWorker(sh, w) })
	}
}

func muWorker(sh *shared, w int) {
	beat := sh.progress.beat(mutexWorker, w)
	defer finish(beat)
	var k uint64
	for !sh.stopped() {
		sh.mu.mu.Lock()
		sh.mu.counter++
		k++
		if k%100 == 0 {
			runtime.Gosched() // still holding the lock, on purpose
		}
		sh.mu.mu.Unlock()
		if k%1000 == 0 {
			sh.nap(500 * time.Microsecond)
		}
		beat.Store(beat.Load() + 1)
	}
	sh.mu.increments.Add(k)
}

func settleMutex(sh *shared) {
	sh.mu.mu.Lock()
	sh.mu.last = sh.mu.counter
	sh.mu.mu.Unlock()
}

func checkMutex(sh *shared, c *checks) {
	inc := sh.mu.increments.Load()
	c.add("mutex", sh.mu.last == inc && (sh.cfg.Mutex == 0 || inc > 0),
		fmt.Sprintf("counter=%d increments=%d", sh.mu.last, inc))
}
