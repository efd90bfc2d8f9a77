package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/state"
)

// statusOptions are the inputs of `ota status`.
type statusOptions struct {
	*Global
}

func newStatusCmd(g *Global) *cobra.Command {
	o := statusOptions{Global: g}
	return &cobra.Command{
		Use:   "status",
		Short: "Show the installed version and whether an update is pending",
		Long: `status reads the installed version (version.json) and reports an update
interrupted by a crash ("pending"). It is read-only: it makes no request and
does not recover; any other command does. With --json it prints
{"current", "pending", "last_check", "next_check", "last_error", "trial",
"bad_releases"}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStatus(cmd.Context(), o) },
	}
}

// runStatus is `ota status`.
func runStatus(ctx context.Context, o statusOptions) error {
	a, err := o.engineFor(false, slog.LevelWarn)
	if err != nil {
		return err
	}
	s, err := a.Status(ctx)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.printJSON(s)
	}
	fmt.Fprintf(o.IO.Out, "Installed: %s\n", state.Format(s.Current))
	if s.Pending {
		fmt.Fprintf(o.IO.Out, "Pending:   an interrupted update to %s (the next ota command finishes or undoes it)\n", state.Format(s.PendingTo))
	} else {
		fmt.Fprintln(o.IO.Out, "Pending:   no")
	}
	fmt.Fprintf(o.IO.Out, "Last check: %s\n", formatTime(s.LastCheck))
	if !s.NextCheck.IsZero() {
		fmt.Fprintf(o.IO.Out, "Next check: %s\n", formatTime(s.NextCheck))
	}
	if s.Trial != nil {
		fmt.Fprintf(o.IO.Out, "On trial:  %s (previous %s), deadline %s\n",
			state.Format(&s.Trial.Pending), state.Format(&s.Trial.Previous), formatTime(s.Trial.Deadline))
	}
	for _, b := range s.BadReleases {
		fmt.Fprintf(o.IO.Out, "Bad release: %s (%s): %s\n", state.Format(&b.Version), formatTime(b.Time), b.Reason)
	}
	if s.LastError != "" {
		fmt.Fprintf(o.IO.Out, "Last error: %s\n", s.LastError)
	}
	return nil
}
