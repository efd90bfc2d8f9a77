package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/state"
)

// rollbackOptions are the inputs of `ota rollback`.
type rollbackOptions struct {
	*Global
}

func newRollbackCmd(g *Global) *cobra.Command {
	o := rollbackOptions{Global: g}
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runRollback(cmd.Context(), o) },
	}
}

// runRollback is `ota rollback`.
func runRollback(ctx context.Context, o rollbackOptions) error {
	a, err := o.engineFor(false, slog.LevelWarn)
	if err != nil {
		return err
	}
	r, err := a.Rollback(ctx)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.printJSON(r)
	}
	fmt.Fprintf(o.IO.Out, "Rolled back %s -> %s.\n", state.Format(r.Previous), state.Format(&r.Current))
	return nil
}
