package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/trial"
)

// confirmOptions are the inputs of `ota confirm`.
type confirmOptions struct {
	*Global
}

func newConfirmCmd(g *Global) *cobra.Command {
	o := confirmOptions{Global: g}
	return &cobra.Command{
		Use:   "confirm",
		Short: "Keep the release on trial (the application is healthy)",
		Long: `confirm ends the trial of a freshly installed release: it is kept, and
will not be reverted. Run it from the application once it is healthy when
confirm_timeout_sec is set (an unconfirmed release is reverted when the
timeout passes). With nothing on trial it does nothing and succeeds, so it is
safe to run at every application start. With --json it prints
{"confirmed", "release"}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConfirm(cmd.Context(), o) },
	}
}

// runConfirm is `ota confirm`.
func runConfirm(ctx context.Context, o confirmOptions) error {
	a, err := o.engineFor(false, slog.LevelWarn)
	if err != nil {
		return err
	}
	r, err := a.Confirm()
	if err != nil && !errors.Is(err, trial.ErrNoTrial) {
		return err
	}
	if o.JSON {
		out := map[string]any{"confirmed": r != nil}
		if r != nil {
			out["release"] = r.Pending
		}
		return o.printJSON(out)
	}
	if r == nil {
		fmt.Fprintln(o.IO.Out, "Nothing to confirm: no release is on trial.")
	} else {
		fmt.Fprintf(o.IO.Out, "Confirmed %s.\n", state.Format(&r.Pending))
	}
	return nil
}
