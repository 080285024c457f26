package soak

// Per-worker progress counters (gort: benches/src/soak/progress.rs): each
// long-lived worker adds one to its own slot per iteration and sets the
// slot's top bit when it ends (finish); a slot that stops moving mid-run is
// a starved or stuck worker, one without the top bit long after the stop a
// worker that never ended. Slots are padded to a cache line.

import (
	"fmt"
	"sync/atomic"
)

type part int

const (
	ppSend part = iota
	ppRecv
	producer
	consumer
	mutexWorker
	timerLooper
	ctxBuilder
	tcpClient
	nparts
)

var partNames = [nparts]string{"pp.send", "pp.recv", "sel.producer", "sel.consumer", "mutex", "timer", "ctx.builder", "tcp.client"}

type slot struct {
	v atomic.Uint64
	_ [56]byte
}

// finished is a slot's top bit: its worker has ended.
const finished = 1 << 63

// finish marks a worker's slot ended (deferred by every worker).
func finish(b *atomic.Uint64) { b.Store(b.Load() | finished) }

type progress struct {
	slots []slot
	first [nparts]int
	count [nparts]int
}

func newProgress(c Config) *progress {
	p := &progress{}
	p.count = [nparts]int{c.Pairs, c.Pairs, c.Producers, c.Consumers, c.Mutex, c.Timers, c.Ctx, c.Clients}
	at := 0
	for i := range p.count {
		p.first[i] = at
		at += p.count[i]
	}
	p.slots = make([]slot, at)
	return p
}

// beat returns worker i of part's slot.
func (p *progress) beat(pt part, i int) *atomic.Uint64 {
	if i >= p.count[pt] {
		panic(fmt.Sprintf("%s worker %d out of %d", partNames[pt], i, p.count[pt]))
	}
	return &p.slots[p.first[pt]+i].v
}

// snapshot is every slot's raw value (count and finished bit).
func (p *progress) snapshot() []uint64 {
	out := make([]uint64, len(p.slots))
	for i := range p.slots {
		out[i] = p.slots[i].v.Load()
	}
	return out
}

func (p *progress) sum(pt part) uint64 {
	var s uint64
	for i := p.first[pt]; i < p.first[pt]+p.count[pt]; i++ {
		s += p.slots[i].v.Load() &^ finished
	}
	return s
}

func (p *progress) label(idx int) string {
	for pt := range nparts {
		if idx >= p.first[pt] && idx < p.first[pt]+p.count[pt] {
			return fmt.Sprintf("%s[%d]", partNames[pt], idx-p.first[pt])
		}
	}
	return fmt.Sprintf("slot[%d]", idx)
}
