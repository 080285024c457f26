// The Go twin of gort's etcd workloads (benches/src/workloads/etcd.rs):
// the same operations through etcd's Go client (clientv3) and its
// concurrency package, against the etcd the comparison program started
// (its client URLs in GORT_BENCH_ETCD). Each workload prints
// "name ops elapsed_ns ns/op=X".
//
// Built in GOPATH mode against Debian's golang-etcd-server-dev (etcd
// 3.4.23's go.etcd.io/etcd/clientv3): this machine reaches no Go module
// proxy, so go.etcd.io/etcd/client/v3 (3.5+) cannot be fetched. The API
// used here is the same in both.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

func report(name string, ops int, d time.Duration) {
	fmt.Printf("%s %d %d ns/op=%.1f\n", name, ops, d.Nanoseconds(), float64(d.Nanoseconds())/float64(ops))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func client() *clientv3.Client {
	eps := os.Getenv("GORT_BENCH_ETCD")
	if eps == "" {
		panic("GORT_BENCH_ETCD is not set: run this through gort-benches")
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(eps, ","), DialTimeout: 5 * time.Second})
	must(err)
	return c
}

// etcd_put_get: a put then a get of one key, one round trip each.
func putGet() {
	c := client()
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		_, err := c.Put(ctx, "bench/pg", "v")
		must(err)
	}
	const n = 1000
	t := time.Now()
	for i := 0; i < n; i++ {
		_, err := c.Put(ctx, "bench/pg", "v")
		must(err)
		_, err = c.Get(ctx, "bench/pg")
		must(err)
	}
	report("etcd_put_get", n, time.Since(t))
}

// etcd_lock: uncontended Lock+Unlock, then 8 goroutines contending one
// Mutex (each with its own session), counting acquisitions.
func lock() {
	c := client()
	ctx := context.Background()
	s, err := concurrency.NewSession(c, concurrency.WithTTL(10))
	must(err)
	m := concurrency.NewMutex(s, "/bench/lock")
	for i := 0; i < 20; i++ {
		must(m.Lock(ctx))
		must(m.Unlock(ctx))
	}
	const n = 300
	t := time.Now()
	for i := 0; i < n; i++ {
		must(m.Lock(ctx))
		must(m.Unlock(ctx))
	}
	report("etcd_lock", n, time.Since(t))
	must(s.Close())

	const g, per = 8, 25
	var wg sync.WaitGroup
	sessions := make([]*concurrency.Session, g)
	for i := range sessions {
		sessions[i], err = concurrency.NewSession(c, concurrency.WithTTL(10))
		must(err)
	}
	t = time.Now()
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func(s *concurrency.Session) {
			defer wg.Done()
			m := concurrency.NewMutex(s, "/bench/lock8")
			for j := 0; j < per; j++ {
				must(m.Lock(ctx))
				must(m.Unlock(ctx))
			}
		}(sessions[i])
	}
	wg.Wait()
	report("etcd_lock_contended", g*per, time.Since(t))
	for _, s := range sessions {
		must(s.Close())
	}
}

// election_failover: the leader's session stops refreshing (a crash: its
// lease expires after the TTL); the time until the waiting candidate's
// Campaign returns.
func failover() {
	c := client()
	ctx := context.Background()
	const rounds = 3
	var total time.Duration
	for r := 0; r < rounds; r++ {
		pfx := fmt.Sprintf("/bench/elect-go-%d-%d", os.Getpid(), r)
		s1, err := concurrency.NewSession(c, concurrency.WithTTL(2))
		must(err)
		e1 := concurrency.NewElection(s1, pfx)
		must(e1.Campaign(ctx, "a"))
		s2, err := concurrency.NewSession(c, concurrency.WithTTL(2))
		must(err)
		e2 := concurrency.NewElection(s2, pfx)
		done := make(chan time.Time)
		go func() {
			must(e2.Campaign(ctx, "b"))
			done <- time.Now()
		}()
		for {
			resp, err := c.Get(ctx, pfx+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			must(err)
			if resp.Count == 2 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		t := time.Now()
		s1.Orphan()
		total += (<-done).Sub(t)
		must(e2.Resign(ctx))
		must(s2.Close())
	}
	report("election_failover", rounds, total)
}

var workloads = map[string]func(){
	"etcd_put_get":      putGet,
	"etcd_lock":         lock,
	"election_failover": failover,
}

func main() {
	which := flag.String("w", "", "workload to run")
	flag.Parse()
	f, ok := workloads[*which]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown workload %q\n", *which)
		os.Exit(2)
	}
	f()
}
