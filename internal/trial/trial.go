// Package trial persists what the agent must remember across crashes and
// reboots about a release on probation, and about releases that failed.
//
//   - trial.json: the release under trial (pending), the one to revert to
//     (previous), the deadline by which it must be confirmed, and how many
//     times the trial was (re)started. Written durably *before* the new tree
//     is activated, removed durably after Confirm or Fail: if it exists at
//     start-up, the agent is still on trial (MCUboot "test" image semantics).
//   - bad_releases.json: commits that failed their trial, newest last,
//     bounded. A bad release is not tried again; a newer one (another commit)
//     is.
//   - ota_error.json: {"errors": [...]} as in the original, newest last,
//     bounded in count and bytes, never silently overwritten.
//   - status.json: last check, last success, next check, last error.
//
// Every write goes through fsx.FS: tmp file, fsync, rename, fsync directory.
// Unreadable (corrupt) files read as empty, except trial.json whose
// corruption is an error: guessing there could keep a bad release.
package trial

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/otafleet/ota/internal/statedir"
	"io/fs"
	"path"
	"slices"
	"time"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/source"
)

// File names below the state directory.
const (
	TrialFile       = statedir.Trial
	BadReleasesFile = statedir.BadReleases
	ErrorFile       = statedir.Errors
	StatusFile      = statedir.Status
)

// Limits.
const (
	MaxBadReleases       = 32
	DefaultErrorLimit    = 100 // error_history_limit
	MaxErrorBytes        = 64 << 10
	maxErrorMessageBytes = 2048
)

// ErrNoTrial is returned by Confirm and Fail when no release is on trial.
var ErrNoTrial = errors.New("no release is on trial")

// Record is a release on trial.
type Record struct {
	Pending  source.Version `json:"pending"`
	Previous source.Version `json:"previous"`
	Started  time.Time      `json:"started"`
	Deadline time.Time      `json:"deadline"`
	// Attempts counts how many times the trial was started or resumed after
	// an agent restart; a crash loop shows up as a growing count.
	Attempts int `json:"attempts"`
}

// Expired reports whether the deadline passed without confirmation.
func (r Record) Expired(now time.Time) bool { return !r.Deadline.IsZero() && !now.Before(r.Deadline) }

// BadRelease is a release that failed its trial.
type BadRelease struct {
	source.Version
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// Store reads and writes the files in Dir.
type Store struct {
	FS  fsx.FS
	Dir string // absolute, slash-separated state directory
	// ErrorLimit bounds ota_error.json entries (error_history_limit);
	// DefaultErrorLimit when ≤ 0.
	ErrorLimit int
	// ErrorPath, when set, is where ota_error.json lives (the agent keeps it
	// in target_dir, where the original and the core write it).
	ErrorPath string
}

func (s Store) path(name string) string {
	if path.IsAbs(name) {
		return name
	}
	return path.Join(s.Dir, name)
}

func (s Store) readJSON(name string, v any) (bool, error) {
	b, err := fsx.ReadFile(s.FS, s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", s.path(name), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("parse %s: %w", s.path(name), err)
	}
	return true, nil
}

func (s Store) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if _, err := fsx.MkdirAll(s.FS, path.Dir(s.path(name)), 0o755); err != nil {
		return fmt.Errorf("create state directory %s: %w", path.Dir(s.path(name)), err)
	}
	if err := fsx.WriteFileAtomic(s.FS, s.path(name), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w (check that the state directory is writable and not full)", s.path(name), err)
	}
	return nil
}

func (s Store) remove(name string) error {
	err := s.FS.Remove(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", s.path(name), err)
	}
	return s.FS.SyncDir(s.Dir)
}

// Load returns the release on trial, or nil.
func (s Store) Load() (*Record, error) {
	var r Record
	ok, err := s.readJSON(TrialFile, &r)
	if err != nil {
		return nil, fmt.Errorf("%w; the trial state is unknown: run `ota status`, then `ota confirm` to keep the current release or `ota rollback` to revert", err)
	}
	if !ok {
		return nil, nil
	}
	return &r, nil
}

// Begin durably records that pending is about to be activated on trial,
// replacing previous, to be confirmed before deadline. Call it before the
// activation step.
func (s Store) Begin(now time.Time, pending, previous source.Version, deadline time.Time) (*Record, error) {
	r := &Record{Pending: pending, Previous: previous, Started: now.UTC(), Deadline: deadline.UTC(), Attempts: 1}
	return r, s.writeJSON(TrialFile, r)
}

// Resume increments the attempt count of the current trial (call once per
// agent start while a trial is pending) and returns the updated record.
func (s Store) Resume() (*Record, error) {
	r, err := s.Load()
	if err != nil || r == nil {
		return r, err
	}
	r.Attempts++
	return r, s.writeJSON(TrialFile, r)
}

// Extend moves the deadline of the current trial (waiting for `ota confirm`).
func (s Store) Extend(deadline time.Time) (*Record, error) {
	r, err := s.Load()
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrNoTrial
	}
	r.Deadline = deadline.UTC()
	return r, s.writeJSON(TrialFile, r)
}

// Confirm ends the trial successfully: the pending release is kept.
func (s Store) Confirm() (*Record, error) {
	r, err := s.Load()
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrNoTrial
	}
	return r, s.remove(TrialFile)
}

// Fail ends the trial unsuccessfully: the pending release is added to the
// bad-release list (first, so a crash in between cannot retry it) and the
// trial record removed. The caller reverts the tree to r.Previous.
func (s Store) Fail(now time.Time, reason string) (*Record, error) {
	r, err := s.Load()
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrNoTrial
	}
	if err := s.MarkBad(now, r.Pending, reason); err != nil {
		return r, err
	}
	return r, s.remove(TrialFile)
}

// BadReleases returns the bad-release list, oldest first.
func (s Store) BadReleases() ([]BadRelease, error) {
	var l struct {
		Releases []BadRelease `json:"releases"`
	}
	if _, err := s.readJSON(BadReleasesFile, &l); err != nil {
		return nil, nil // corrupt: forget, the worst case is one more trial
	}
	return l.Releases, nil
}

// MarkBad adds v to the bad-release list (bounded to MaxBadReleases, oldest
// dropped). Marking an already-bad commit refreshes its entry.
func (s Store) MarkBad(now time.Time, v source.Version, reason string) error {
	l, _ := s.BadReleases()
	l = slices.DeleteFunc(l, func(b BadRelease) bool { return b.Commit == v.Commit })
	l = append(l, BadRelease{Version: v, Time: now.UTC(), Reason: truncate(reason, maxErrorMessageBytes)})
	if len(l) > MaxBadReleases {
		l = l[len(l)-MaxBadReleases:]
	}
	return s.writeJSON(BadReleasesFile, struct {
		Releases []BadRelease `json:"releases"`
	}{l})
}

// IsBad reports whether v's commit failed a trial before.
func (s Store) IsBad(v source.Version) (bool, *BadRelease) {
	l, _ := s.BadReleases()
	for i := range l {
		if l[i].Commit != "" && l[i].Commit == v.Commit {
			return true, &l[i]
		}
	}
	return false, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
