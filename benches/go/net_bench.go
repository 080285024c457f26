package main

// Workloads of the net area beyond main.go's echo; mirrored by
// benches/src/workloads/net.rs.

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

func init() {
	workloads["idleconn"] = func() { idleconn(10_000) }
}

// idleconn: n keep-alive connections, each held by a server goroutine
// parked in a read after one round trip; prints the RSS each adds. The
// clients live in a child process (this program again, with
// IDLECONN_CLIENT set): both ends of 10,000 connections would exceed a
// 20,000 open-file limit.
func idleconn(n int) {
	raiseFDLimit(uint64(n + 1000))
	if addr := os.Getenv("IDLECONN_CLIENT"); addr != "" {
		idleconnClient(addr, n)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	before := rssKB()
	var ready, done sync.WaitGroup
	ready.Add(n)
	done.Add(n)
	t := time.Now()
	child := exec.Command(os.Args[0], "-w", "idleconn")
	child.Env = append(os.Environ(), "IDLECONN_CLIENT="+ln.Addr().String())
	stdin, err := child.StdinPipe()
	if err != nil {
		panic(err)
	}
	if err := child.Start(); err != nil {
		panic(err)
	}
	for i := 0; i < n; i++ {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		go func(c net.Conn) {
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c, buf); err != nil {
				panic(err)
			}
			if _, err := c.Write(buf); err != nil {
				panic(err)
			}
			ready.Done()
			c.Read(buf) // idle until the client goes away
			c.Close()
			done.Done()
		}(c)
	}
	ready.Wait()
	d := time.Since(t)
	per := float64(rssKB()-before) * 1024 / float64(n)
	stdin.Close()
	done.Wait()
	child.Wait()
	report("idleconn", n, d)
	fmt.Printf("idleconn_bytes_per_conn %.0f\n", per)
	ln.Close()
}

// idleconnClient: n connections, one round trip each, held open until
// stdin closes.
func idleconnClient(addr string, n int) {
	var ready sync.WaitGroup
	ready.Add(n)
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			panic(err)
		}
		conns = append(conns, c)
		go func(c net.Conn) {
			buf := make([]byte, 5)
			if _, err := c.Write([]byte("hello")); err != nil {
				panic(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				panic(err)
			}
			ready.Done()
		}(c)
	}
	ready.Wait()
	io.Copy(io.Discard, os.Stdin)
}

// raiseFDLimit lifts the open-file limit to at least want (both ends of
// every connection live in this process); Go only raises the soft limit
// to the hard one by itself.
func raiseFDLimit(want uint64) {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		return
	}
	if r.Max < want {
		r.Max = want // needs privilege; falls back below if refused
	}
	r.Cur = r.Max
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r) != nil {
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
		r.Cur = r.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}
