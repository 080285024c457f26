// Command gosoak is the Go twin of gort's long mixed soak (cargo run
// --release -p gort-benches --bin soak): the same mix, flags and output.
//
//	cd benches/go && go run ./gosoak -secs 120 [-procs 2]
//
// Exit status 0 only if every check passed; 1 on a failed check or a hang.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"gortbench/soak"
)

func main() {
	cfg := soak.Default()
	cfg.Flags(flag.CommandLine)
	quiet := flag.Bool("quiet", false, "print only the results")
	flag.Parse()
	cfg.Verbose = !*quiet
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "gosoak: %v\n", err)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(cfg.Procs)
	r := soak.Run(cfg)
	r.Print()
	if !r.Passed {
		os.Exit(1)
	}
	// Go has no runtime to drop; printed for line-for-line comparison.
	fmt.Printf("after_drop %s\n", soak.ProcNow())
}
