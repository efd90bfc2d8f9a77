package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/engine"
	"github.com/otafleet/ota/internal/sdnotify"
	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/trial"
)

// engineFor builds the engine for a command.
func (g *Global) engineFor(withProgress bool, lvl slog.Level) (*engine.Engine, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	if g.Debug || cfg.Debug {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(g.IO.Err, &slog.HandlerOptions{Level: lvl}))
	o := engine.Options{Logger: log, Source: g.source}
	if withProgress && g.showProgress() {
		o.Progress = newBar(g.IO.Err)
	}
	return engine.New(cfg, o)
}

// reportedError is an error whose JSON report was already printed on stdout
// (with "error", "exit_code" and "kind" fields), so Main prints no second
// JSON document.
type reportedError struct{ error }

func (e reportedError) Unwrap() error { return e.error }

// printReportWithError prints v's JSON fields plus the error fields.
func (g *Global) printReportWithError(v any, err error) error {
	b, merr := json.Marshal(v)
	if merr != nil {
		return err
	}
	m := map[string]any{}
	if json.Unmarshal(b, &m) != nil {
		return err
	}
	k := engine.Classify(err)
	m["error"], m["exit_code"], m["kind"] = err.Error(), int(k), kindName(k)
	if perr := g.printJSON(m); perr != nil {
		return err
	}
	return reportedError{err}
}

func newConfirmCmd(g *Global) *cobra.Command {
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.engineFor(false, slog.LevelWarn)
			if err != nil {
				return err
			}
			r, err := a.Confirm()
			if err != nil && !errors.Is(err, trial.ErrNoTrial) {
				return err
			}
			if g.JSON {
				out := map[string]any{"confirmed": r != nil}
				if r != nil {
					out["release"] = r.Pending
				}
				return g.printJSON(out)
			}
			if r == nil {
				fmt.Fprintln(g.IO.Out, "Nothing to confirm: no release is on trial.")
			} else {
				fmt.Fprintf(g.IO.Out, "Confirmed %s.\n", state.Format(&r.Pending))
			}
			return nil
		},
	}
}

func newDaemonCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Run as a service: check on a schedule, update, health-check, revert",
		Long: `daemon runs until SIGTERM. It checks every check_interval (with jitter, never
more often than min_update_interval_sec, backing off after failures, inside
the update window), installs eligible releases under a trial (pre_update,
post_update, restart_command, health_check) and reverts failed ones.

Signals: SIGHUP reloads the config, SIGUSR1 checks now, SIGTERM stops (an
update in progress runs to completion or rollback first). Under systemd
(Type=notify) it reports READY, STATUS and feeds the watchdog
(WatchdogSec). See packaging/systemd/ota.service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := g.engineFor(false, slog.LevelInfo)
			if err != nil {
				return err
			}
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
			defer signal.Stop(sigs)
			return a.Daemon(cmd.Context(), engine.DaemonOptions{
				Signals: sigs,
				Notify:  sdnotify.New(nil),
				Reload:  func() (*engine.Engine, error) { return g.engineFor(false, slog.LevelInfo) },
			})
		},
	}
}

// printHeld prints why an update waits.
func printHeld(g *Global, held []string) {
	for _, h := range held {
		fmt.Fprintf(g.IO.Out, "Held back: %s\n", h)
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.RFC3339)
}
