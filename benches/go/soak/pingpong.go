package soak

// Ping-pong pairs (gort: pingpong.rs): pair p starts at p<<40; the sender
// sends even numbers in order, the echo side expects exactly the next and
// returns it plus one; both sides count, and every pair's four counts must
// agree. The sender sleeps 200 µs every 32 round trips.

import (
	"fmt"
	"sync/atomic"
	"time"
)

type pair struct {
	sent, replies, echoRecv, echoSent, bad atomic.Uint64
}

type ppStats struct{ pairs []pair }

func (s *ppStats) init(n int) { s.pairs = make([]pair, n) }

func spawnPingpong(sh *shared, g *group) {
	for p := range sh.cfg.Pairs {
		a, b := make(chan uint64), make(chan uint64)
		g.spawn(func() { ppSender(sh, p, a, b) })
		g.spawn(func() { ppEcho(sh, p, a, b) })
	}
}

func ppSender(sh *shared, p int, a chan<- uint64, b <-chan uint64) {
	beat := sh.progress.beat(ppSend, p)
	defer finish(beat)
	pr := &sh.pp.pairs[p]
	var sent, replies, bad uint64
	i := uint64(p) << 40
	for !sh.stopped() {
		a <- i
		sent++
		v, ok := <-b
		if !ok {
			bad++
			break
		}
		replies++
		if v != i+1 {
			bad++
		}
		i += 2
		if replies%32 == 0 {
			sh.nap(200 * time.Microsecond)
		}
		beat.Store(beat.Load() + 1)
	}
	close(a)
	pr.sent.Store(sent)
	pr.replies.Store(replies)
	pr.bad.Add(bad)
}

func ppEcho(sh *shared, p int, a <-chan uint64, b chan<- uint64) {
	beat := sh.progress.beat(ppRecv, p)
	defer finish(beat)
	pr := &sh.pp.pairs[p]
	var got, sent, bad uint64
	want := uint64(p) << 40
	for v := range a {
		got++
		if v != want {
			bad++
		}
		want = v + 2
		b <- v + 1
		sent++
		beat.Store(beat.Load() + 1)
	}
	pr.echoRecv.Store(got)
	pr.echoSent.Store(sent)
	pr.bad.Add(bad)
}

func checkPingpong(sh *shared, c *checks) {
	var total, bad uint64
	mismatched, first := 0, ""
	for i := range sh.pp.pairs {
		p := &sh.pp.pairs[i]
		v := [4]uint64{p.sent.Load(), p.echoRecv.Load(), p.echoSent.Load(), p.replies.Load()}
		total += v[3]
		bad += p.bad.Load()
		if v[0] != v[1] || v[1] != v[2] || v[2] != v[3] {
			mismatched++
			if first == "" {
				first = fmt.Sprintf(" first: pair %d sent=%d echo_recv=%d echo_sent=%d replies=%d", i, v[0], v[1], v[2], v[3])
			}
		}
	}
	c.add("pingpong", bad == 0 && mismatched == 0 && (sh.cfg.Pairs == 0 || total > 0),
		fmt.Sprintf("pairs=%d round_trips=%d out_of_sequence=%d mismatched_pairs=%d%s", sh.cfg.Pairs, total, bad, mismatched, first))
}
