// The reference workloads of ../shared/anchors/go/main.go (Go 1.27), run by
// gort's comparison program (benches/src/main.rs) next to gort's versions.
// Each prints "name ops elapsed_ns ns/op=X". Workloads register themselves
// in the `workloads` table; other files of this package add more
// (sync_bench.go, net_bench.go, ...).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

func report(name string, ops int, d time.Duration) {
	fmt.Printf("%s %d %d ns/op=%.1f\n", name, ops, d.Nanoseconds(), float64(d.Nanoseconds())/float64(ops))
}

// spawn: N goroutines, each does trivial work, joined with a WaitGroup.
func spawn(n int) {
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	report("spawn", n, time.Since(t))
}

// skynet: 10-ary tree of goroutines, 1M leaves, sums via channels.
func skynet(c chan int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	for i := 0; i < div; i++ {
		sub := num + i*(size/div)
		go skynet(rc, sub, size/div, div)
	}
	sum := 0
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func runSkynet(size int) {
	t := time.Now()
	c := make(chan int)
	go skynet(c, 0, size, 10)
	sum := <-c
	d := time.Since(t)
	if sum != size*(size-1)/2 {
		panic("bad sum")
	}
	report("skynet", size, d)
}

// pingpong: round trips over two unbuffered channels.
func pingpong(n int) {
	a, b := make(chan int), make(chan int)
	go func() {
		for v := range a {
			b <- v
		}
		close(b)
	}()
	t := time.Now()
	for i := 0; i < n; i++ {
		a <- i
		<-b
	}
	close(a)
	report("pingpong", n, time.Since(t))
}

// chan_mpmc: P producers, C consumers over a buffered channel.
func chanMPMC(n, p, cap int) {
	ch := make(chan int, cap)
	var wg sync.WaitGroup
	t := time.Now()
	per := n / p
	for i := 0; i < p; i++ {
		go func() {
			for j := 0; j < per; j++ {
				ch <- j
			}
		}()
	}
	wg.Add(p)
	for i := 0; i < p; i++ {
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				<-ch
			}
		}()
	}
	wg.Wait()
	report(fmt.Sprintf("chan_mpmc_cap%d", cap), per*p, time.Since(t))
}

// mutex: G goroutines increment a shared counter under a Mutex.
func mutex(n, g int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	per := n / g
	t := time.Now()
	wg.Add(g)
	for i := 0; i < g; i++ {
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d := time.Since(t)
	if counter != per*g {
		panic("lost update")
	}
	report("mutex", per*g, d)
}

// yield: G goroutines each yield Y times.
func yield(g, y int) {
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(g)
	for i := 0; i < g; i++ {
		go func() {
			defer wg.Done()
			for j := 0; j < y; j++ {
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	report("yield", g*y, time.Since(t))
}

// sleep: G goroutines each sleep 1ms S times (timer heap stress).
func sleepers(g, s int) {
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(g)
	for i := 0; i < g; i++ {
		go func() {
			defer wg.Done()
			for j := 0; j < s; j++ {
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	report("sleep", g*s, time.Since(t))
}

// echo: C connections each send M 64-byte messages and read them back.
func echo(conns, msgs int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						c.Close()
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						c.Close()
						return
					}
				}
			}(c)
		}
	}()
	addr := ln.Addr().String()
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(conns)
	for i := 0; i < conns; i++ {
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				panic(err)
			}
			defer c.Close()
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			for j := 0; j < msgs; j++ {
				if _, err := c.Write(msg); err != nil {
					panic(err)
				}
				got := 0
				for got < 64 {
					n, err := c.Read(buf[got:])
					if err != nil {
						panic(err)
					}
					got += n
				}
			}
		}()
	}
	wg.Wait()
	report("echo", conns*msgs, time.Since(t))
	ln.Close()
}

// rssKB reads the resident set size from /proc/self/status.
func rssKB() int {
	b, _ := os.ReadFile("/proc/self/status")
	var kb int
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fmt.Sscanf(strings.TrimSpace(line[6:]), "%d", &kb)
		}
	}
	return kb
}

// park: N goroutines each blocked on a channel receive at once; prints the
// RSS they add per goroutine, then releases them all.
func park(n int) {
	before := rssKB()
	var started, done sync.WaitGroup
	release := make(chan struct{})
	t := time.Now()
	started.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-release
			done.Done()
		}()
	}
	started.Wait()
	d := time.Since(t)
	per := float64(rssKB()-before) * 1024 / float64(n)
	close(release)
	done.Wait()
	report("park", n, d)
	fmt.Printf("park_bytes_per_goroutine %.0f\n", per)
}

var workloads = map[string]func(){
	"spawn":    func() { spawn(1_000_000) },
	"skynet":   func() { runSkynet(1_000_000) },
	"pingpong": func() { pingpong(1_000_000) },
	"chan": func() {
		chanMPMC(4_000_000, 4, 0)
		chanMPMC(4_000_000, 4, 128)
	},
	"mutex": func() { mutex(4_000_000, 8) },
	"yield": func() { yield(1000, 1000) },
	"sleep": func() { sleepers(10_000, 10) },
	"park":  func() { park(1_000_000) },
	"echo":  func() { echo(100, 2000) },
}

func main() {
	which := flag.String("w", "", "workload to run")
	list := flag.Bool("list", false, "list workloads")
	flag.Parse()
	if *list {
		for name := range workloads {
			fmt.Println(name)
		}
		return
	}
	f, ok := workloads[*which]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown workload %q\n", *which)
		os.Exit(2)
	}
	f()
}
