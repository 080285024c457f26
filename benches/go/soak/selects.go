package soak

// Select with timeouts (gort: selects.rs): producers offer (producer, seq)
// items to a capacity-16 channel against a 2 ms timeout, consumers take
// them against a 1–5 ms timeout or the quit channel. Per producer, the
// consumers add up count, sum and sum of squares of the sequence numbers,
// which must match 1..n exactly. After the producers end, a closer closes
// work and quit; consumers end when work is closed and drained.

import (
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"
)

type item struct {
	p   uint32
	seq uint64
}

type tally struct{ sent, got, sum, sumSq atomic.Uint64 }

type selStats struct {
	work              chan item
	quit              chan struct{}
	tally             []tally
	drained, timeouts atomic.Uint64
}

func newSelStats(producers int) *selStats {
	return &selStats{work: make(chan item, 16), quit: make(chan struct{}), tally: make([]tally, producers)}
}

type acc struct{ n, sum, sq uint64 }

func take(a []acc, it item) {
	x := &a[it.p]
	x.n++
	x.sum += it.seq
	x.sq += it.seq * it.seq
}

func (s *selStats) add(a []acc) {
	for i := range a {
		s.tally[i].got.Add(a[i].n)
		s.tally[i].sum.Add(a[i].sum)
		s.tally[i].sumSq.Add(a[i].sq)
	}
}

func spawnSelects(sh *shared, g *group) {
	var producing sync.WaitGroup
	for p := range sh.cfg.Producers {
		producing.Add(1)
		g.spawn(func() {
			defer producing.Done()
			selProducer(sh, p)
		})
	}
	g.spawn(func() {
		producing.Wait()
		close(sh.sel.work)
		close(sh.sel.quit)
	})
	for c := range sh.cfg.Consumers {
		g.spawn(func() { selConsumer(sh, c) })
	}
}

func selProducer(sh *shared, p int) {
	beat := sh.progress.beat(producer, p)
	defer finish(beat)
	r := newRng(uint64(p) + 77)
	var seq uint64
	const wait = 2 * time.Millisecond
	for !sh.stopped() {
		t := time.Now()
		select {
		case sh.sel.work <- item{uint32(p), seq + 1}:
			seq++
		case <-time.After(wait):
			sh.lat.After.RecordLate(time.Since(t), wait)
		}
		if r.below(8) == 0 {
			sh.nap(time.Millisecond)
		}
		beat.Store(beat.Load() + 1)
	}
	sh.sel.tally[p].sent.Store(seq)
}

func selConsumer(sh *shared, c int) {
	beat := sh.progress.beat(consumer, c)
	defer finish(beat)
	r := newRng(uint64(c) + 1234)
	a := make([]acc, sh.cfg.Producers)
	var timeouts uint64
	for done := false; !done; {
		wait := time.Duration(1+r.below(5)) * time.Millisecond
		t := time.Now()
		select {
		case it, ok := <-sh.sel.work:
			if ok {
				take(a, it)
			} else {
				done = true
			}
		case <-time.After(wait):
			timeouts++
			sh.lat.After.RecordLate(time.Since(t), wait)
		case <-sh.sel.quit:
		}
		beat.Store(beat.Load() + 1)
	}
	sh.sel.add(a)
	sh.sel.timeouts.Add(timeouts)
}

func drainSelects(sh *shared) {
	a := make([]acc, sh.cfg.Producers)
	var n uint64
	for it := range sh.sel.work {
		take(a, it)
		n++
	}
	sh.sel.add(a)
	sh.sel.drained.Store(n)
}

// triangular is n(n+1)/2 and n(n+1)(2n+1)/6 modulo 2^64.
func triangular(n uint64) (uint64, uint64) {
	b := func(v uint64) *big.Int { return new(big.Int).SetUint64(v) }
	mod := new(big.Int).Lsh(big.NewInt(1), 64)
	s := new(big.Int).Mul(b(n), b(n+1))
	s.Div(s, big.NewInt(2))
	q := new(big.Int).Mul(b(n), b(n+1))
	q.Mul(q, new(big.Int).Add(new(big.Int).Mul(b(n), big.NewInt(2)), big.NewInt(1)))
	q.Div(q, big.NewInt(6))
	return new(big.Int).Mod(s, mod).Uint64(), new(big.Int).Mod(q, mod).Uint64()
}

func checkSelects(sh *shared, c *checks) {
	var sent, got uint64
	var wrong []string
	for p := range sh.sel.tally {
		t := &sh.sel.tally[p]
		n, g := t.sent.Load(), t.got.Load()
		sum, sq := triangular(n)
		sent += n
		got += g
		if g != n || t.sum.Load() != sum || t.sumSq.Load() != sq {
			wrong = append(wrong, fmt.Sprintf("producer %d: sent %d, received %d", p, n, g))
		}
	}
	first := ""
	if len(wrong) > 0 {
		first = " first: " + wrong[0]
	}
	drained := sh.sel.drained.Load()
	c.add("select", len(wrong) == 0 && (sh.cfg.Producers == 0 || sent > 0),
		fmt.Sprintf("produced=%d consumed=%d drained=%d timeouts=%d bad_producers=%d%s", sent, got-drained, drained,
			sh.sel.timeouts.Load(), len(wrong), first))
}
