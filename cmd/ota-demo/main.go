// Command ota-demo runs ota's offline example: it creates a git repository,
// serves it through a GitHub-compatible server on 127.0.0.1, and updates a
// device folder through two versions, a no-op check (one request answered
// 304) and a rollback, printing each step. It needs git.
//
// It is a command of its own so that the device binary (cmd/ota) does not
// link the test server and the git fixture it uses.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/otafleet/ota/internal/cli"
	"github.com/otafleet/ota/internal/demo"
)

func main() {
	fs := flag.NewFlagSet("ota-demo", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ota-demo [--dir DIR] [--progress auto|always|never]\n\n"+
			"Runs ota offline: a local git repository served to a device folder through two\n"+
			"versions, a no-op check and a rollback. --dir keeps the files to look at afterwards.\n\n")
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "", "keep the demo's repository and device folder in this folder")
	progress := fs.String("progress", "auto", "progress bar: auto (on a terminal), always or never")
	fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	io := cli.System()
	o := demo.Options{Dir: *dir, Out: io.Out}
	if cli.ShowProgress(*progress, io) {
		o.Progress = cli.NewProgressBar(io.Err)
	}
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintln(io.Err, "ota-demo:", err)
		os.Exit(1)
	}
}
