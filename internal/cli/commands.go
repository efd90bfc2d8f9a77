package cli

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota"
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

With --json it prints {"update_available", "current", "target", "add",
"modify", "delete", "download_bytes"}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := g.updater(false)
			if err != nil {
				return err
			}
			r, err := u.Check(cmd.Context())
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
			return nil
		},
	}
}

func newUpdateCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:   "update",
		Short: "Bring the folder to the target version, atomically",
		Long: `update downloads only the files that changed (or binary deltas of them),
verifies every byte against the tree's hashes, stages them on the same
filesystem and activates them through a journal. A crash or power cut at any
moment leaves the old version or the new one, never a mix; the next ota
command finishes or undoes the interrupted update.

With --json it prints {"updated", "current", "files_downloaded",
"bytes_downloaded", ...}. Already up to date is success (exit 0).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := g.updater(!g.JSON)
			if err != nil {
				return err
			}
			r, err := u.Update(cmd.Context())
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
			return nil
		},
	}
}

func newStatusCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the installed version and whether an update is pending",
		Long: `status reads the installed version (version.json) and reports an update
interrupted by a crash ("pending"). It is read-only: it makes no request and
does not recover; any other command does. With --json it prints
{"current", "pending"}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := g.updater(false)
			if err != nil {
				return err
			}
			s, err := u.Status(cmd.Context())
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
			if n := len(s.Errors); n > 0 {
				fmt.Fprintf(g.IO.Out, "Last error: %s\n", s.Errors[n-1])
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
to make sure the application never sees a half-applied update.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := g.updater(false)
			if err != nil {
				return err
			}
			out, err := u.Recover(cmd.Context())
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
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			if g.JSON {
				return g.printJSON(map[string]string{"version": v})
			}
			fmt.Fprintln(g.IO.Out, "ota", v)
			return nil
		},
	}
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

var _ = ota.KindOK
var _ = strings.TrimSpace
