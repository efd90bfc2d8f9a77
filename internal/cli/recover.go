package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
)

// recoverOptions are the inputs of `ota recover`.
type recoverOptions struct {
	*Global
}

func newRecoverCmd(g *Global) *cobra.Command {
	o := recoverOptions{Global: g}
	return &cobra.Command{
		Use:   "recover",
		Short: "Finish or undo an update interrupted by a crash",
		Long: `recover runs the recovery every other command runs first: when version.json
names the interrupted update's target it finishes it, otherwise it restores
the previous version exactly. Run it at boot (before the application starts)
to make sure the application never sees a half-applied update
(packaging/systemd/ota-recover.service). It does nothing when nothing is
pending.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRecover(cmd.Context(), o) },
	}
}

// runRecover is `ota recover`.
func runRecover(ctx context.Context, o recoverOptions) error {
	e, err := o.engineFor(false, slog.LevelWarn)
	if err != nil {
		return err
	}
	out, _, err := e.Recover(ctx, false)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.printJSON(map[string]any{"recovered": out != "", "action": out})
	}
	if out == "" {
		fmt.Fprintln(o.IO.Out, "Nothing to recover.")
	} else {
		fmt.Fprintf(o.IO.Out, "Recovered: %s.\n", out)
	}
	return nil
}
