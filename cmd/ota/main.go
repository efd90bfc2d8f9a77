// Command ota keeps a device's application folder equal to a repository at a
// chosen release, tag, branch tip or commit. See the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/otafleet/ota/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.System())
	stop()
	os.Exit(code)
}
