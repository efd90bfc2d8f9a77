// Package cli is the ota command line: one file per command, each with its
// options struct and a run(ctx, options) function that drives
// internal/engine (or publish, or delta) and formats the result. Exit codes
// come from engine.Classify, by error type, and are documented in the
// README.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/engine"
	"github.com/otafleet/ota/internal/source"
)

// Global holds the flags every command shares.
type Global struct {
	ConfigPath string
	JSON       bool
	Debug      bool
	Progress   string // auto, always, never
	IO         *IOStreams
	// source, when set (tests), replaces the configured transport.
	source source.Source
}

// usageError marks command-line mistakes (exit code 2).
type usageError struct{ error }

// Main runs the CLI and returns the process exit code.
func Main(ctx context.Context, args []string, io *IOStreams) int {
	return mainWith(ctx, &Global{IO: io}, args)
}

func mainWith(ctx context.Context, g *Global, args []string) int {
	io := g.IO
	root := newRoot(g)
	typedUsage(root)
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ue usageError
	var re reportedError
	var de *DeltaExitError
	kind := engine.Classify(err)
	switch {
	case errors.As(err, &de):
		kind = engine.Kind(de.Code)
	case errors.As(err, &ue):
		kind = engine.KindConfig
	}
	if g.JSON && !errors.As(err, &re) {
		enc := json.NewEncoder(io.Out)
		enc.Encode(map[string]any{"error": err.Error(), "exit_code": int(kind), "kind": kindName(kind)})
	}
	fmt.Fprintf(io.Err, "ota: %v\n", err)
	if h := hint(kind); h != "" {
		fmt.Fprintf(io.Err, "hint: %s\n", h)
	}
	return int(kind)
}

// typedUsage makes every command-line mistake cobra finds (unknown
// command or flag, bad flag value, wrong number of arguments) a usageError,
// so the exit code comes from its type, not from matching its text.
func typedUsage(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	} else if c.HasSubCommands() && !c.Runnable() {
		// A group ("ota", "ota delta"): no arguments but a subcommand.
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q (see %s --help)", a[0], cmd.CommandPath(), cmd.CommandPath())}
			}
			return cmd.Help()
		}
	}
	for _, sub := range c.Commands() {
		typedUsage(sub)
	}
}

func kindName(k engine.Kind) string {
	return map[engine.Kind]string{engine.KindOther: "internal", engine.KindConfig: "config", engine.KindNetwork: "network",
		engine.KindVerify: "verification", engine.KindLocal: "filesystem", engine.KindRejected: "rejected", engine.KindBusy: "busy", engine.KindRefused: "refused"}[k]
}

func hint(k engine.Kind) string {
	switch k {
	case engine.KindConfig:
		return "fix the config or command line as the message says; `ota --help` lists commands and flags"
	case engine.KindNetwork:
		return "check the network, the repository name and the token; the device folder was not changed, so it is safe to run again later"
	case engine.KindVerify:
		return "the server sent data that does not match its hashes; nothing was installed. Check the source (or a proxy in between) and run again"
	case engine.KindLocal:
		return "a local filesystem problem; the folder holds the previous version. Fix space or permissions and run again"
	case engine.KindRejected:
		return "the previous release is running again and the failed one will not be retried (see `ota status`); fix the release or the health_check and publish a newer one"
	case engine.KindBusy:
		return "another ota command is running on this folder; wait for it and run again"
	case engine.KindRefused:
		return "the pre_update hook said no (its output is above); nothing was changed, and the update is tried again at the next check"
	case engine.KindOther:
		return "this looks like a bug in ota: please report it with the output of --debug"
	}
	return ""
}

// Command is the whole command tree, for generating documentation (man
// page, completions) at packaging time.
func Command() *cobra.Command {
	root := newRoot(&Global{IO: System()})
	typedUsage(root)
	return root
}

func newRoot(g *Global) *cobra.Command {
	root := &cobra.Command{
		Use:   "ota",
		Short: "Keep an application folder equal to a repository, safely",
		Long: `ota keeps a device's application folder equal to a Git repository at a chosen
release, tag, branch tip or commit. It downloads only what changed, verifies
every byte, applies the update atomically (a journal plus version.json as the
commit point) and recovers from a power cut at any instant.

Config: --config FILE (.json, .yaml, .yml or .toml); default $OTA_CONFIG, then
./ota_config.json. Exit codes: 0 ok, 1 internal, 2 config/usage, 3 network,
4 verification, 5 local filesystem, 6 rejected and reverted, 7 busy,
8 refused by the pre_update hook.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	def := os.Getenv("OTA_CONFIG")
	if def == "" {
		def = "ota_config.json"
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.ConfigPath, "config", "c", def, "config file (.json, .yaml, .toml)")
	pf.BoolVar(&g.JSON, "json", false, "print machine-readable JSON on stdout")
	pf.BoolVar(&g.Debug, "debug", false, "log every step to stderr")
	pf.StringVar(&g.Progress, "progress", "auto", "progress bar: auto (on a terminal), always or never")
	root.AddCommand(newCheckCmd(g), newUpdateCmd(g), newStatusCmd(g), newRecoverCmd(g), newRollbackCmd(g), newVersionCmd(g),
		newDeltaCmd(), newConfirmCmd(g), newDaemonCmd(g))
	root.AddCommand(newPublishCmd(g), newKeygenCmd(g))
	return root
}

// logger builds the stderr logger for a command.
func (g *Global) logger(debug bool) *slog.Logger {
	lvl := slog.LevelWarn
	if g.Debug || debug {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(g.IO.Err, &slog.HandlerOptions{Level: lvl}))
}

// loadConfig reads the config and prints its warnings.
func (g *Global) loadConfig() (config.Config, error) {
	cfg, err := config.Load(g.ConfigPath)
	if err != nil {
		return cfg, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(g.IO.Err, "ota: warning: %s: %s\n", g.ConfigPath, w)
	}
	return cfg, nil
}

func (g *Global) showProgress() bool { return ShowProgress(g.Progress, g.IO) }

// ShowProgress decides whether to draw a progress bar: "always", "never",
// or (auto) when stderr is a terminal.
func ShowProgress(mode string, io *IOStreams) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	return io.ErrTTY
}

func (g *Global) printJSON(v any) error { return printJSONTo(g.IO.Out, v) }
