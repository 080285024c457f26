// Channel workloads beyond the anchors' (pingpong, chan, skynet live in
// main.go): select-heavy producer/consumer, after Go's
// BenchmarkSelectProdCons (runtime/chan_test.go).
package main

import (
	"sync"
	"time"
)

// selectProdCons: P producers and P consumers over one channel of
// capacity 128, every operation a 3-case select with a fresh
// time.After(1h) timeout case and a never-ready close channel.
func selectProdCons(n, procs int) {
	myc := make(chan int, 128)
	myclose := make(chan bool)
	var wg sync.WaitGroup
	per := n / procs
	t := time.Now()
	wg.Add(procs)
	for p := 0; p < procs; p++ {
		go func() {
			for i := 0; i < per; i++ {
				select {
				case myc <- 1:
				case <-time.After(time.Hour):
					panic("timeout")
				case <-myclose:
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				select {
				case <-myc:
				case <-time.After(time.Hour):
					panic("timeout")
				case <-myclose:
				}
			}
		}()
	}
	wg.Wait()
	report("select_prodcons", per*procs, time.Since(t))
}

func init() {
	workloads["select"] = func() { selectProdCons(1_000_000, 2) }
}
