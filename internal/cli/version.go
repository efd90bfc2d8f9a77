package cli

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionOptions are the inputs of `ota version`.
type versionOptions struct {
	*Global
}

func newVersionCmd(g *Global) *cobra.Command {
	o := versionOptions{Global: g}
	return &cobra.Command{
		Use:   "version",
		Short: "Print the ota version",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runVersion(cmd.Context(), o) },
	}
}

// runVersion is `ota version`.
func runVersion(ctx context.Context, o versionOptions) error {
	v := Version()
	if o.JSON {
		return o.printJSON(map[string]string{"version": v})
	}
	fmt.Fprintln(o.IO.Out, "ota", v)
	return nil
}

// version is set at link time by packaging (-X .../internal/cli.version=1.2.3).
var version string

// Version is the version of this build: set by packaging, else the module
// version (go install), else "(devel)".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
