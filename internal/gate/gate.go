// Package gate holds the pre-flight conditions that must hold before the agent
// applies an update: enough battery, enough free space, no inhibit file, and no
// crash storm in the last 24 hours.
//
// Every gate returns (ok, reason). reason is a short human sentence that
// explains a refusal (it appears in `ota check --json` as "held_back" and in
// logs). A value that cannot be measured passes, as in the original: a device
// without a battery must still update. Gates never mutate anything except
// CrashLog.Record, which writes durably through fsx.FS.
package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/otafleet/ota/internal/statedir"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Gate is one pre-flight condition.
type Gate func(ctx context.Context) (ok bool, reason string)

// Check evaluates gates in order and returns the reasons of every gate that
// refused; ok is true when none did.
func Check(ctx context.Context, gates ...Gate) (ok bool, reasons []string) {
	for _, g := range gates {
		if g == nil {
			continue
		}
		if gok, r := g(ctx); !gok {
			reasons = append(reasons, r)
		}
	}
	return len(reasons) == 0, reasons
}

// DefaultPowerSupplyDir is where Linux exposes batteries and chargers.
const DefaultPowerSupplyDir = "/sys/class/power_supply"

// Battery is the min_battery_percent gate.
type Battery struct {
	MinPercent float64 // min_battery_percent; ≤ 0 disables the gate
	// Command (battery_command), when set, is run with /bin/sh -c and must
	// print the charge in percent; it overrides the sysfs reading.
	Command string
	// Dir is the power_supply directory (DefaultPowerSupplyDir when empty);
	// tests point it at a fake tree.
	Dir     string
	Timeout time.Duration // for Command; 10 s when zero
}

// Level reads the battery charge in percent. known is false when there is no
// battery; onMains is true when an external supply reports online=1.
func (b Battery) Level(ctx context.Context) (pct float64, known, onMains bool, err error) {
	if b.Command != "" {
		to := b.Timeout
		if to <= 0 {
			to = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(ctx, to)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", b.Command)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = time.Second
		out, err := cmd.Output()
		if err != nil {
			return 0, false, false, fmt.Errorf("battery_command %q: %w", b.Command, err)
		}
		f := strings.Fields(string(out))
		if len(f) == 0 {
			return 0, false, false, fmt.Errorf("battery_command %q printed nothing; it must print the charge in percent", b.Command)
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			return 0, false, false, fmt.Errorf("battery_command %q printed %q; it must print the charge in percent", b.Command, f[0])
		}
		return v, true, false, nil
	}
	dir := b.Dir
	if dir == "" {
		dir = DefaultPowerSupplyDir
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, false, nil
	}
	if err != nil {
		return 0, false, false, fmt.Errorf("read %s: %w", dir, err)
	}
	pct = 101
	for _, e := range ents {
		sub := filepath.Join(dir, e.Name())
		typ := readTrim(filepath.Join(sub, "type"))
		switch typ {
		case "Battery":
			s := readTrim(filepath.Join(sub, "capacity"))
			if v, err := strconv.ParseFloat(s, 64); err == nil {
				known = true
				pct = min(pct, v) // several batteries: the weakest decides
			}
		case "Mains", "USB", "USB_C", "USB_PD":
			if readTrim(filepath.Join(sub, "online")) == "1" {
				onMains = true
			}
		}
	}
	if !known {
		pct = 0
	}
	return pct, known, onMains, nil
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// Gate returns the battery gate. External power online lets a low battery pass
// (it is charging); an unknown level passes.
func (b Battery) Gate() Gate {
	return func(ctx context.Context) (bool, string) {
		if b.MinPercent <= 0 {
			return true, ""
		}
		pct, known, mains, err := b.Level(ctx)
		if err != nil {
			return false, fmt.Sprintf("battery level unknown: %v", err)
		}
		if !known || mains || pct >= b.MinPercent {
			return true, ""
		}
		return false, fmt.Sprintf("battery at %.0f%%, below min_battery_percent = %.0f%%; the update waits for charging", pct, b.MinPercent)
	}
}

// FreeSpace returns a gate that refuses when the filesystem holding dir has
// fewer than need bytes available to unprivileged users.
func FreeSpace(dir string, need int64) Gate {
	return func(context.Context) (bool, string) {
		if need <= 0 {
			return true, ""
		}
		avail, err := Available(dir)
		if err != nil {
			return false, fmt.Sprintf("free space on %s unknown: %v", dir, err)
		}
		if avail < need {
			return false, fmt.Sprintf("only %d bytes free on %s, %d needed; free some space", avail, dir, need)
		}
		return true, ""
	}
}

// Available returns the bytes available to unprivileged users on dir's filesystem.
func Available(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// InhibitFileName is the default inhibit file below the state directory.
const InhibitFileName = statedir.Inhibit

// Inhibit returns a gate that refuses while the file at path exists
// (inhibit_file; RAUC-style). The first line of the file, if any, is quoted
// in the reason so an operator can say why.
func Inhibit(path string) Gate {
	return func(context.Context) (bool, string) {
		if path == "" {
			return true, ""
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return true, ""
		}
		why := ""
		if err == nil {
			line, _, _ := strings.Cut(string(b), "\n")
			if line = strings.TrimSpace(line); line != "" {
				if len(line) > 200 {
					line = line[:200]
				}
				why = fmt.Sprintf(" (%q)", line)
			}
		}
		return false, fmt.Sprintf("updates inhibited by %s%s; remove the file to allow updates", path, why)
	}
}
