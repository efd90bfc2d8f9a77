package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/otafleet/ota/internal/fsx"
)

// CrashWindow is the period over which crashes are counted (the original's 86400 s).
const CrashWindow = 24 * time.Hour

// DefaultMaxCrashes is max_crashes_before_delay's default.
const DefaultMaxCrashes = 3

// crashLogCap bounds the persisted log; older entries are dropped first.
const crashLogCap = 64

// Crash is one recorded crash (unclean agent stop, failed health check after
// an update, failed restart command...).
type Crash struct {
	Time time.Time `json:"time"`
	What string    `json:"what,omitempty"`
}

type crashFile struct {
	Crashes []Crash `json:"crashes"`
}

// CrashLog is the persisted, bounded crash record (JSON, newest last). Writes
// are durable: tmp file, fsync, rename, fsync directory.
type CrashLog struct {
	FS   fsx.FS
	Path string // absolute, slash-separated
}

// Load returns the recorded crashes, oldest first; a missing file is empty.
func (l CrashLog) Load() ([]Crash, error) {
	b, err := fsx.ReadFile(l.FS, l.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read crash log %s: %w", l.Path, err)
	}
	var f crashFile
	if err := json.Unmarshal(b, &f); err != nil {
		// A corrupt log must not block updates forever: treat as empty and
		// let the next Record rewrite it.
		return nil, nil
	}
	return f.Crashes, nil
}

// Record appends a crash at now and persists the log, keeping the newest
// crashLogCap entries.
func (l CrashLog) Record(now time.Time, what string) error {
	cs, err := l.Load()
	if err != nil {
		return err
	}
	if len(what) > 500 {
		what = what[:500]
	}
	cs = append(cs, Crash{Time: now.UTC(), What: what})
	if len(cs) > crashLogCap {
		cs = cs[len(cs)-crashLogCap:]
	}
	b, err := json.Marshal(crashFile{Crashes: cs})
	if err != nil {
		return err
	}
	if err := fsx.WriteFileAtomic(l.FS, l.Path, b, 0o644); err != nil {
		return fmt.Errorf("write crash log %s: %w", l.Path, err)
	}
	return nil
}

// Recent counts crashes within CrashWindow before now.
func (l CrashLog) Recent(now time.Time) (int, error) {
	cs, err := l.Load()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		if age := now.Sub(c.Time); age >= 0 && age < CrashWindow {
			n++
		}
	}
	return n, nil
}

// Gate defers updates while more than maxCrashes crashes happened in the last
// 24 h (max_crashes_before_delay; the original's "> max" comparison). now is
// the injected clock. maxCrashes ≤ 0 disables the gate.
func (l CrashLog) Gate(now func() time.Time, maxCrashes int) Gate {
	return func(context.Context) (bool, string) {
		if maxCrashes <= 0 {
			return true, ""
		}
		n, err := l.Recent(now())
		if err != nil {
			return false, err.Error()
		}
		if n > maxCrashes {
			return false, fmt.Sprintf("%d crashes in the last 24 h exceed max_crashes_before_delay = %d; updates wait until the device is stable (see %s)", n, maxCrashes, l.Path)
		}
		return true, ""
	}
}
