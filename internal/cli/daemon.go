package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/internal/engine"
	"github.com/otafleet/ota/internal/sdnotify"
)

// daemonOptions are the inputs of `ota daemon`.
type daemonOptions struct {
	*Global
}

func newDaemonCmd(g *Global) *cobra.Command {
	o := daemonOptions{Global: g}
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runDaemon(cmd.Context(), o) },
	}
}

// runDaemon is `ota daemon`.
func runDaemon(ctx context.Context, o daemonOptions) error {
	a, err := o.engineFor(false, slog.LevelInfo)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	return a.Daemon(ctx, engine.DaemonOptions{
		Signals: sigs,
		Notify:  sdnotify.New(nil),
		Reload:  func() (*engine.Engine, error) { return o.engineFor(false, slog.LevelInfo) },
	})
}
