// Command httphello is Go's net/http "Hello, World!" server, the peer of
// gort's examples/http_hello.rs in benches/http_wrk.sh.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "Hello, World!\n")
	})
	log.Printf("http hello server listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
