package soak

// TCP echo on loopback (gort: tcp.rs): clients dial "localhost:PORT" (a
// name lookup per connect), echo 1–20 messages of 1–2,000 bytes whose
// bytes are a function of (client, connection, message, offset), compare
// every echoed byte, disconnect and start over. Client-sent, client-echoed,
// server-read and server-written bytes must agree; no error may happen.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type tcpStats struct {
	conns, connErr, msgs, sent, echoed, badBytes, ioErr atomic.Uint64
	accepts, acceptErr, srvRead, srvWritten, srvErr     atomic.Uint64
	firstErr                                            atomic.Pointer[string]
}

func (s *tcpStats) error(what string, err error) {
	m := what + ": " + err.Error()
	s.firstErr.CompareAndSwap(nil, &m)
}

type server struct {
	ln   net.Listener
	done chan struct{}
	port int
}

func serve(sh *shared) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("soak: cannot listen on 127.0.0.1: " + err.Error())
	}
	s := &server{ln: ln, done: make(chan struct{}), port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		defer close(s.done)
		var conns sync.WaitGroup
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					break
				}
				sh.tcp.acceptErr.Add(1)
				sh.tcp.error("accept", err)
				time.Sleep(5 * time.Millisecond)
				continue
			}
			sh.tcp.accepts.Add(1)
			conns.Go(func() { echoConn(sh, c) })
		}
		conns.Wait()
	}()
	return s
}

func echoConn(sh *shared, c net.Conn) {
	defer c.Close()
	var buf [4096]byte
	var read, written uint64
	for {
		n, err := c.Read(buf[:])
		if n > 0 {
			read += uint64(n)
			if _, werr := c.Write(buf[:n]); werr != nil {
				sh.tcp.srvErr.Add(1)
				sh.tcp.error("server write", werr)
				break
			}
			written += uint64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			sh.tcp.srvErr.Add(1)
			sh.tcp.error("server read", err)
			break
		}
	}
	sh.tcp.srvRead.Add(read)
	sh.tcp.srvWritten.Add(written)
}

func stopServer(sh *shared, s *server) {
	s.ln.Close()
	<-s.done
}

func pattern(k int, conn, m uint64, off int) byte {
	return byte(uint64(off) ^ uint64(k)*31 ^ conn*7 ^ m*13)
}

func spawnClients(sh *shared, port int, g *group) {
	for k := range sh.cfg.Clients {
		g.spawn(func() { tcpClientLoop(sh, k, port) })
	}
}

func tcpClientLoop(sh *shared, k int, port int) {
	beat := sh.progress.beat(tcpClient, k)
	defer finish(beat)
	r := newRng(0x9E3779B97F4A7C15 ^ uint64(k+1))
	addr := net.JoinHostPort("localhost", strconv.Itoa(port))
	msg, back := make([]byte, 0, 2000), make([]byte, 2000)
	st := &sh.tcp
	var conn uint64
	for !sh.stopped() {
		s, err := net.Dial("tcp", addr)
		if err != nil {
			st.connErr.Add(1)
			st.error("connect", err)
			sh.nap(10 * time.Millisecond)
			continue
		}
		st.conns.Add(1)
		conn++
		rounds := 1 + r.below(20)
		for m := range rounds {
			n := 1 + int(r.below(2000))
			msg = msg[:0]
			for off := range n {
				msg = append(msg, pattern(k, conn, m, off))
			}
			if _, err := s.Write(msg); err != nil {
				st.ioErr.Add(1)
				st.error("client write", err)
				break
			}
			st.sent.Add(uint64(n))
			if _, err := io.ReadFull(s, back[:n]); err != nil {
				st.ioErr.Add(1)
				st.error("client read", err)
				break
			}
			st.echoed.Add(uint64(n))
			st.msgs.Add(1)
			bad := 0
			for i := range n {
				if msg[i] != back[i] {
					bad++
				}
			}
			st.badBytes.Add(uint64(bad))
		}
		s.Close()
		sh.nap(time.Duration(r.below(20)) * time.Millisecond)
		beat.Store(beat.Load() + 1)
	}
}

func checkTCP(sh *shared, c *checks) {
	t := &sh.tcp
	sent, echoed, read, written := t.sent.Load(), t.echoed.Load(), t.srvRead.Load(), t.srvWritten.Load()
	errs := t.connErr.Load() + t.ioErr.Load() + t.acceptErr.Load() + t.srvErr.Load()
	ok := sent == echoed && echoed == read && read == written && t.badBytes.Load() == 0 && errs == 0 &&
		t.accepts.Load() == t.conns.Load() && (sh.cfg.Clients == 0 || t.msgs.Load() > 0)
	first := ""
	if e := t.firstErr.Load(); e != nil {
		first = fmt.Sprintf(" first_error=%q", *e)
	}
	c.add("tcp", ok, fmt.Sprintf("conns=%d accepts=%d msgs=%d bytes_sent=%d bytes_echoed=%d server_read=%d "+
		"server_written=%d bad_bytes=%d conn_err=%d io_err=%d accept_err=%d server_err=%d%s",
		t.conns.Load(), t.accepts.Load(), t.msgs.Load(), sent, echoed, read, written, t.badBytes.Load(),
		t.connErr.Load(), t.ioErr.Load(), t.acceptErr.Load(), t.srvErr.Load(), first))
}
