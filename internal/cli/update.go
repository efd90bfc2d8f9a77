package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/state"
)

// updateOptions are the inputs of `ota update`.
type updateOptions struct {
	*Global
	Now bool
}

func newUpdateCmd(g *Global) *cobra.Command {
	o := updateOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Bring the folder to the target version, atomically",
		Long: `update downloads only the files that changed (or binary deltas of them),
verifies every byte against the tree's hashes, stages them on the same
filesystem and activates them through a journal. A crash or power cut at any
moment leaves the old version or the new one, never a mix; the next ota
command finishes or undoes the interrupted update.

The update is installed only when eligible (staged rollout, update window,
gates; see "ota check"); a held-back update is success (exit 0) and lists
the reasons. --now ignores the rollout and the window.

When health_check is configured the new release is checked right away
(with pre_update, post_update and restart_command around it); if it fails,
the previous release is restored exactly, the failed one is never retried,
and ota exits with code 6 ("reverted": true in --json).

With --json it prints {"updated", "current", "files_downloaded",
"bytes_downloaded", "reverted", "held_back", ...}. Already up to date is
success (exit 0).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUpdate(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.Now, "now", false, "ignore the staged rollout and the update window")
	return cmd
}

// runUpdate is `ota update`.
func runUpdate(ctx context.Context, o updateOptions) error {
	a, err := o.engineFor(!o.JSON, slog.LevelWarn)
	if err != nil {
		return err
	}
	r, err := a.Update(ctx, o.Now)
	if err != nil {
		if o.JSON && r != nil {
			return o.printReportWithError(r, err)
		}
		return err
	}
	if o.JSON {
		return o.printJSON(r)
	}
	out := o.IO.Out
	if r.TrialRecovered != "" {
		fmt.Fprintf(out, "Finished the trial of the previous update (%s).\n", r.TrialRecovered)
	}
	if len(r.HeldBack) > 0 {
		printHeld(o.Global, r.HeldBack)
		return nil
	}
	if r.Recovered != "" {
		fmt.Fprintf(out, "Recovered an interrupted update (%s).\n", r.Recovered)
	}
	if !r.Updated {
		fmt.Fprintf(out, "Already up to date: %s\n", state.Format(&r.Current))
		return nil
	}
	fmt.Fprintf(out, "Updated %s -> %s: %d added, %d modified, %d deleted; %d files (%s) downloaded",
		state.Format(r.Previous), state.Format(&r.Current), r.Added, r.Modified, r.Deleted,
		r.FilesDownloaded, humanBytes(r.BytesDownloaded))
	if r.DeltasApplied > 0 {
		fmt.Fprintf(out, ", %d as deltas", r.DeltasApplied)
	}
	fmt.Fprintln(out, ".")
	if r.OnTrial {
		fmt.Fprintln(out, "On trial: run `ota confirm` from the application, or it is reverted at the deadline.")
	}
	return nil
}
