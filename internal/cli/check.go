package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/state"
)

// checkOptions are the inputs of `ota check`.
type checkOptions struct {
	*Global
}

func newCheckCmd(g *Global) *cobra.Command {
	o := checkOptions{Global: g}
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runCheck(cmd.Context(), o) },
	}
}

// runCheck is `ota check`.
func runCheck(ctx context.Context, o checkOptions) error {
	a, err := o.engineFor(false, slog.LevelWarn)
	if err != nil {
		return err
	}
	r, err := a.Check(ctx, false)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.printJSON(r)
	}
	out := o.IO.Out
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
		printHeld(o.Global, r.HeldBack)
	}
	return nil
}
