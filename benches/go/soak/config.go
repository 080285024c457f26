package soak

// The soak's settings (gort: benches/src/soak/config.rs), with the same
// flags.

import (
	"flag"
	"fmt"
	"time"
)

// Config is what to run and for how long.
type Config struct {
	Procs, Secs                                              int
	Pairs, Producers, Consumers, Mutex, Timers, Ctx, Clients int
	SampleSecs, StallSecs, JoinSecs, MaxThreads              int
	Verbose                                                  bool
}

// Default is issue 12's mix for 120 s on 2 Ps.
func Default() Config {
	return Config{Procs: 2, Secs: 120, Pairs: 1000, Producers: 20, Consumers: 500, Mutex: 200, Timers: 200,
		Ctx: 50, Clients: 500, StallSecs: 30, JoinSecs: 60, Verbose: true}
}

// Flags registers the soak's flags on fs, defaulting to c's values.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.IntVar(&c.Secs, "secs", c.Secs, "length of the run before the stop")
	fs.IntVar(&c.Procs, "procs", c.Procs, "GOMAXPROCS")
	fs.IntVar(&c.Pairs, "pairs", c.Pairs, "ping-pong pairs")
	fs.IntVar(&c.Producers, "producers", c.Producers, "select producers")
	fs.IntVar(&c.Consumers, "consumers", c.Consumers, "select consumers")
	fs.IntVar(&c.Mutex, "mutex", c.Mutex, "goroutines contending the mutex")
	fs.IntVar(&c.Timers, "timers", c.Timers, "timer loopers")
	fs.IntVar(&c.Ctx, "ctx", c.Ctx, "context-tree builders")
	fs.IntVar(&c.Clients, "clients", c.Clients, "TCP echo clients")
	fs.IntVar(&c.SampleSecs, "sample-secs", c.SampleSecs, "seconds between samples (0: secs/30, 1 to 5)")
	fs.IntVar(&c.StallSecs, "stall-secs", c.StallSecs, "a worker without progress this long mid-run is a hang")
	fs.IntVar(&c.JoinSecs, "join-secs", c.JoinSecs, "every goroutine must be joined this long after the stop")
	fs.IntVar(&c.MaxThreads, "max-threads", c.MaxThreads, "most OS threads allowed (0: procs + 12)")
}

// Validate returns the error to print for impossible settings.
func (c *Config) Validate() error {
	switch {
	case c.Procs <= 0:
		return fmt.Errorf("-procs %d: the runtime needs at least one P, e.g. -procs 2", c.Procs)
	case c.Secs <= 0:
		return fmt.Errorf("-secs %d: give the run a length, e.g. -secs 20", c.Secs)
	case c.Producers == 0 && c.Consumers > 0:
		return fmt.Errorf("-producers 0 with consumers: nothing would close the work channel; give at least one producer or -consumers 0")
	}
	return nil
}

// SampleEvery is the time between samples.
func (c *Config) SampleEvery() time.Duration {
	s := c.SampleSecs
	if s <= 0 {
		s = min(max(c.Secs/30, 1), 5)
	}
	return time.Duration(s) * time.Second
}

// ThreadBound is the most OS threads allowed: gort's bound (procs + 8 Ms
// in reserve + main, monitor, sysmon and sigquit threads), so both are
// held to the same number.
func (c *Config) ThreadBound() int {
	if c.MaxThreads > 0 {
		return c.MaxThreads
	}
	return c.Procs + 8 + 4
}

// Describe is the settings as key=value words.
func (c *Config) Describe() string {
	return fmt.Sprintf("procs=%d secs=%d pairs=%d producers=%d consumers=%d mutex=%d timers=%d ctx=%d clients=%d "+
		"sample_secs=%d stall_secs=%d join_secs=%d max_threads=%d", c.Procs, c.Secs, c.Pairs, c.Producers,
		c.Consumers, c.Mutex, c.Timers, c.Ctx, c.Clients, int(c.SampleEvery().Seconds()), c.StallSecs, c.JoinSecs,
		c.ThreadBound())
}
