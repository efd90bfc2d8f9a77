package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/state"
)

func newRollbackCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback",
		Short: "Return to the version installed before the current one",
		Long: `rollback re-installs the previous version. In the in-place layout it is a
journaled re-apply of the files the last update replaced or deleted, which ota
keeps in its object store, so no download is needed and a crash during the
rollback is recovered like one during an update. Running it twice returns to
the version you started from. A release on trial (confirm_timeout_sec) is
rejected instead: the version it came from returns, on_rollback runs, and the
release is not retried. With --json it prints the same fields as update.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.engineFor(false, slog.LevelWarn)
			if err != nil {
				return err
			}
			r, err := a.Rollback(cmd.Context())
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(r)
			}
			fmt.Fprintf(g.IO.Out, "Rolled back %s -> %s.\n", state.Format(r.Previous), state.Format(&r.Current))
			return nil
		},
	}
}
