package soak

// A lock-free log-linear histogram of µs values, the same buckets as
// gort's (benches/src/soak/hist.rs): one bucket per value below 256, then
// 128 per power of two; a quantile is the nearest rank's bucket upper
// bound, capped at the exact maximum.

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

const subBits = 7

// Hist is a latency histogram (see the file comment).
type Hist struct {
	counts [64 << subBits]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Uint64
}

func bucket(v uint64) int {
	if v < 2<<subBits {
		return int(v)
	}
	shift := 63 - bits.LeadingZeros64(v) - subBits
	return shift<<subBits + int(v>>shift)
}

func upper(i int) uint64 {
	if i < 2<<subBits {
		return uint64(i)
	}
	shift := i>>subBits - 1
	mant := uint64(i - shift<<subBits)
	return (mant+1)<<shift - 1
}

// RecordUs records one value in µs.
func (h *Hist) RecordUs(v uint64) {
	h.counts[bucket(v)].Add(1)
	h.n.Add(1)
	for {
		old := h.max.Load()
		if v <= old || h.max.CompareAndSwap(old, v) {
			return
		}
	}
}

// RecordLate records how far elapsed overshot want (0 if it did not).
func (h *Hist) RecordLate(elapsed, want time.Duration) {
	h.RecordUs(uint64(max(elapsed-want, 0).Microseconds()))
}

// Quantile is the nearest-rank quantile q.
func (h *Hist) Quantile(q float64) uint64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(n))), 1)
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			return min(upper(i), h.max.Load())
		}
	}
	return h.max.Load()
}

// Max is the largest value recorded.
func (h *Hist) Max() uint64 { return h.max.Load() }

// Line is "latency NAME n=.. p50=.. p99=.. p99.9=.. max=..".
func (h *Hist) Line(name string) string {
	return fmt.Sprintf("latency %s n=%d p50=%d p99=%d p99.9=%d max=%d", name, h.n.Load(),
		h.Quantile(0.50), h.Quantile(0.99), h.Quantile(0.999), h.Max())
}
