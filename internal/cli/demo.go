package cli

import (
	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/demo"
)

func newDemoCmd(g *Global) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run an offline example: a local git repository served to a device folder",
		Long: `demo shows ota working without a network or a config: it creates a git
repository, serves it through a GitHub-compatible server on 127.0.0.1, and
updates a device folder through two versions, a no-op check (one request
answered 304) and a rollback, printing each step. It needs git.

--dir keeps the repository and the device folder there to look at afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := demo.Options{Dir: dir, Out: g.IO.Out}
			if g.showProgress() {
				o.Progress = newBar(g.IO.Err)
			}
			return demo.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "keep the demo's files in this folder")
	return cmd
}
