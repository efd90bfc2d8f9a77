package policy

import (
	"context"
	"fmt"
	"github.com/otafleet/ota/internal/statedir"
	"path"
	"time"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/gate"
	"github.com/otafleet/ota/internal/rollout"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/trial"
)

// CrashLogFile is the crash log's name in the state directory.
const CrashLogFile = statedir.CrashLog

// Input is what Evaluate looks at.
type Input struct {
	Now      time.Time
	Target   source.Target // the candidate release (differs from the installed one)
	DeviceID string        // resolved with rollout.DeviceID
	FS       fsx.FS
	StateDir string // absolute
	// TargetDir is the application directory (free-space gate); NeedBytes
	// the bytes the update needs there (0 skips the gate).
	TargetDir string
	NeedBytes int64
	// PowerSupplyDir overrides /sys/class/power_supply (tests).
	PowerSupplyDir string
	// IgnoreSchedule skips the window and rollout (an operator's explicit
	// `ota update --now`); bad releases, inhibit, battery and crash gates
	// still apply.
	IgnoreSchedule bool
}

// Decision says whether the candidate may be installed now.
type Decision struct {
	Eligible bool              `json:"eligible"`
	HeldBack []string          `json:"held_back,omitempty"`
	Rollout  *rollout.Decision `json:"rollout,omitempty"`
	// WindowOpens is when the update window next opens, when it is closed now.
	WindowOpens time.Time `json:"window_opens,omitzero"`
}

// Store returns the trial store for stateDir.
func (s Settings) Store(fsys fsx.FS, stateDir string) trial.Store {
	return trial.Store{FS: fsys, Dir: stateDir, ErrorLimit: s.ErrorHistoryLimit}
}

// CrashLog returns the crash log in stateDir.
func CrashLog(fsys fsx.FS, stateDir string) gate.CrashLog {
	return gate.CrashLog{FS: fsys, Path: path.Join(stateDir, CrashLogFile)}
}

// InhibitPath is inhibit_file, defaulting to <state dir>/inhibit.
func (s Settings) InhibitPath(stateDir string) string {
	if s.InhibitFile != "" {
		return s.InhibitFile
	}
	return path.Join(stateDir, gate.InhibitFileName)
}

// Evaluate decides whether in.Target may be installed now. Every reason that
// holds it back is listed (not only the first), so an operator sees them all.
func (s Settings) Evaluate(ctx context.Context, in Input) (Decision, error) {
	s = s.WithDefaults()
	var d Decision
	hold := func(format string, args ...any) { d.HeldBack = append(d.HeldBack, fmt.Sprintf(format, args...)) }

	if bad, b := s.Store(in.FS, in.StateDir).IsBad(in.Target.Version); bad {
		hold("release %s failed its trial on %s (%s); it is not retried until a newer release is published",
			describe(in.Target.Version), b.Time.Format(time.RFC3339), b.Reason)
	}
	pol, hasPol, err := rollout.PolicyFromExtra(in.Target.Extra)
	if err != nil {
		return d, fmt.Errorf("read the release's rollout policy: %w", err)
	}
	if hasPol && pol.Pulled {
		hold("release %s was pulled by the publisher", describe(in.Target.Version))
	}
	if !in.IgnoreSchedule {
		var pp *rollout.Policy
		if hasPol {
			pp = &pol
		}
		rd := rollout.Decide(in.DeviceID, releaseID(in.Target.Version), pp, *s.RolloutPercent, in.Now)
		d.Rollout = &rd
		if !rd.Admitted && !(hasPol && pol.Pulled) {
			hold("%s", rd.Reason)
		}
		sc, err := s.Schedule()
		if err != nil {
			return d, err
		}
		if !sc.Window.Allows(in.Now) {
			if open, ok := sc.Window.NextOpen(in.Now); ok {
				d.WindowOpens = open
				hold("outside the update window; it opens at %s", open.Format(time.RFC3339))
			} else {
				hold("the update window never opens; fix update_window_start_hour/update_window_end_hour/power_source")
			}
		}
	}
	gates := []gate.Gate{
		gate.Inhibit(s.InhibitPath(in.StateDir)),
		gate.Battery{MinPercent: s.MinBatteryPercent, Command: s.BatteryCommand, Dir: in.PowerSupplyDir}.Gate(),
		CrashLog(in.FS, in.StateDir).Gate(func() time.Time { return in.Now }, *s.MaxCrashesBeforeDelay),
	}
	if in.NeedBytes > 0 && in.TargetDir != "" {
		gates = append(gates, gate.FreeSpace(in.TargetDir, in.NeedBytes))
	}
	_, reasons := gate.Check(ctx, gates...)
	d.HeldBack = append(d.HeldBack, reasons...)
	d.Eligible = len(d.HeldBack) == 0
	return d, nil
}

// releaseID is the release identity hashed into the rollout cohort: the
// commit, which every source sets and which cannot be reused for other content.
func releaseID(v source.Version) string {
	if v.Commit != "" {
		return v.Commit
	}
	return v.Ref
}

func describe(v source.Version) string {
	c := v.Commit
	if len(c) > 7 {
		c = c[:7]
	}
	switch {
	case v.Ref != "" && c != "":
		return v.Ref + " #" + c
	case v.Ref != "":
		return v.Ref
	}
	return "#" + c
}
