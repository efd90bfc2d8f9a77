package cli

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/state"
)

func newCheckCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Show what an update would change, without changing anything",
		Long: `check resolves the configured channel, tag or commit to one commit and
compares its files with the installed ones. When nothing changed upstream it
costs one conditional request answered 304. It changes no application file
(it does finish or undo an update interrupted by a crash first).

It also says whether an available update may be installed now ("eligible")
or why it is "held_back" (staged rollout, update window, battery, inhibit
file, crash deferral, a release that failed its health check before).

With --json it prints {"update_available", "current", "target", "add",
"modify", "delete", "download_bytes", "eligible", "held_back"}; "held_back"
is a list of reasons, every one that applies ([] when nothing holds the
update back).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.engineFor(false, slog.LevelWarn)
			if err != nil {
				return err
			}
			r, err := a.Check(cmd.Context(), false)
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(r)
			}
			out := g.IO.Out
			if r.Recovered != "" {
				fmt.Fprintf(out, "Recovered an interrupted update (%s).\n", r.Recovered)
			}
			fmt.Fprintf(out, "Installed: %s\nTarget:    %s\n", state.Format(r.Current), state.Format(&r.Target))
			if !r.UpdateAvailable {
				fmt.Fprintln(out, "Up to date.")
				return nil
			}
			fmt.Fprintf(out, "Update available: %d to add, %d to modify, %d to delete, %s to download.\n",
				len(r.Add), len(r.Modify), len(r.Delete), humanBytes(r.DownloadBytes))
			list := func(sign string, ps []string) {
				for i, p := range ps {
					if i == 20 {
						fmt.Fprintf(out, "  %s ... and %d more\n", sign, len(ps)-20)
						break
					}
					fmt.Fprintf(out, "  %s %s\n", sign, p)
				}
			}
			list("+", r.Add)
			list("~", r.Modify)
			list("-", r.Delete)
			if r.Eligible {
				fmt.Fprintln(out, "Eligible: yes, `ota update` installs it now.")
			} else {
				printHeld(g, r.HeldBack)
			}
			return nil
		},
	}
}

func newUpdateCmd(g *Global) *cobra.Command {
	var now bool
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.engineFor(!g.JSON, slog.LevelWarn)
			if err != nil {
				return err
			}
			r, err := a.Update(cmd.Context(), now)
			if err != nil {
				if g.JSON && r != nil {
					return g.printReportWithError(r, err)
				}
				return err
			}
			if g.JSON {
				return g.printJSON(r)
			}
			out := g.IO.Out
			if r.TrialRecovered != "" {
				fmt.Fprintf(out, "Finished the trial of the previous update (%s).\n", r.TrialRecovered)
			}
			if len(r.HeldBack) > 0 {
				printHeld(g, r.HeldBack)
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
		},
	}
	cmd.Flags().BoolVar(&now, "now", false, "ignore the staged rollout and the update window")
	return cmd
}

func newStatusCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the installed version and whether an update is pending",
		Long: `status reads the installed version (version.json) and reports an update
interrupted by a crash ("pending"). It is read-only: it makes no request and
does not recover; any other command does. With --json it prints
{"current", "pending", "last_check", "next_check", "last_error", "trial",
"bad_releases"}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.engineFor(false, slog.LevelWarn)
			if err != nil {
				return err
			}
			s, err := a.Status(cmd.Context())
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(s)
			}
			fmt.Fprintf(g.IO.Out, "Installed: %s\n", state.Format(s.Current))
			if s.Pending {
				fmt.Fprintf(g.IO.Out, "Pending:   an interrupted update to %s (the next ota command finishes or undoes it)\n", state.Format(s.PendingTo))
			} else {
				fmt.Fprintln(g.IO.Out, "Pending:   no")
			}
			fmt.Fprintf(g.IO.Out, "Last check: %s\n", formatTime(s.LastCheck))
			if !s.NextCheck.IsZero() {
				fmt.Fprintf(g.IO.Out, "Next check: %s\n", formatTime(s.NextCheck))
			}
			if s.Trial != nil {
				fmt.Fprintf(g.IO.Out, "On trial:  %s (previous %s), deadline %s\n",
					state.Format(&s.Trial.Pending), state.Format(&s.Trial.Previous), formatTime(s.Trial.Deadline))
			}
			for _, b := range s.BadReleases {
				fmt.Fprintf(g.IO.Out, "Bad release: %s (%s): %s\n", state.Format(&b.Version), formatTime(b.Time), b.Reason)
			}
			if s.LastError != "" {
				fmt.Fprintf(g.IO.Out, "Last error: %s\n", s.LastError)
			}
			return nil
		},
	}
}

func newRecoverCmd(g *Global) *cobra.Command {
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := g.engineFor(false, slog.LevelWarn)
			if err != nil {
				return err
			}
			out, _, err := e.Recover(cmd.Context(), false)
			if err != nil {
				return err
			}
			if g.JSON {
				return g.printJSON(map[string]any{"recovered": out != "", "action": out})
			}
			if out == "" {
				fmt.Fprintln(g.IO.Out, "Nothing to recover.")
			} else {
				fmt.Fprintf(g.IO.Out, "Recovered: %s.\n", out)
			}
			return nil
		},
	}
}

func newVersionCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the ota version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := Version()
			if g.JSON {
				return g.printJSON(map[string]string{"version": v})
			}
			fmt.Fprintln(g.IO.Out, "ota", v)
			return nil
		},
	}
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

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
