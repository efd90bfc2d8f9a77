package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/otafleet/ota/internal/engine"
)

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
