// Command ota keeps a device's application folder equal to a repository at a
// chosen release, tag, branch tip or commit. See the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/otafleet/ota/internal/cli"
)

// memoryLimit is the Go heap's soft limit when $GOMEMLIMIT is not set: the
// collector then runs before the heap doubles past what is live (GOGC=100
// alone let a 100,000-file update reach 3 to 4 times its live heap in RSS,
// bench/results/scale.md). It is soft: a larger live heap still works, it
// only collects more often (the runtime caps that at half the CPU).
const memoryLimit = 32 << 20

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.System())
	stop()
	os.Exit(code)
}
