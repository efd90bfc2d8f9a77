// Command ota-delta runs "ota delta" on its own, for testing and benchmarks
// until the main ota command wires the delta commands in.
package main

import (
	"fmt"
	"os"

	"github.com/otafleet/ota/internal/cli"
)

func main() {
	cmd := cli.NewDeltaCommand()
	cmd.Use = "ota-delta"
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ota delta:", err)
		os.Exit(cli.DeltaExitCode(err))
	}
}
