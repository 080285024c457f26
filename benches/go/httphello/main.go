// Command httphello is Go's net/http "Hello, World!" server, the peer of
// gort's examples/http_hello.rs and examples/hyper_server.rs in
// benches/http_bench.sh (wrk and h2load).
//
// With -h2c it also serves HTTP/2 over cleartext TCP with prior knowledge
// (h2c) on the same port, through http.Server.Protocols (Go 1.24+), as
// hyper's auto builder does; HTTP/1.1 is served either way.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	h2c := flag.Bool("h2c", false, "also serve unencrypted HTTP/2 (h2c, prior knowledge)")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "Hello, World!\n")
	})
	srv := &http.Server{Addr: *addr, Handler: mux}
	if *h2c {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = &p
	}
	log.Printf("http hello server listening on http://%s (h2c %v)", *addr, *h2c)
	log.Fatal(srv.ListenAndServe())
}
