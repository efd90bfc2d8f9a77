// Package ota keeps a device's application folder equal to a repository at a
// chosen release, tag, branch tip or commit, and never leaves it broken.
//
// It is the small public face of ota's engine, for Go programs that embed
// the updater (the ota command is the other face). Open an Updater from a
// config (config.Load reads the same files the command does), then Check,
// Update, Rollback or Recover; every call that may change the folder takes
// the folder's lock, first finishes or undoes an update interrupted by a
// crash, and leaves the folder holding one complete version.
//
// Errors carry a Kind (Classify), the same classes the command's exit codes
// use.
package ota

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/engine"
)

// Version is a release of the application tree.
type Version struct {
	Ref    string `json:"ref"`    // tag, branch or published version label
	Commit string `json:"commit"` // git commit SHA (or content id for plain-folder sources)
	// Number is the published version of a signed repository (0 for GitHub).
	Number int64 `json:"version,omitempty"`
}

// Options are the optional parts of an Updater.
type Options struct {
	// Logger receives the updater's log (nil: none).
	Logger *slog.Logger
	// Progress, when set, is called as bytes of an update arrive: done of
	// total bytes to download.
	Progress func(done, total int64)
}

// Updater updates one target folder (the config's target_dir).
type Updater struct{ e *engine.Engine }

// Open returns the Updater for cfg. It touches neither the network nor the
// folder.
func Open(cfg config.Config, o Options) (*Updater, error) {
	eo := engine.Options{Logger: o.Logger}
	if o.Progress != nil {
		eo.Progress = &progress{f: o.Progress}
	}
	e, err := engine.New(cfg, eo)
	if err != nil {
		return nil, err
	}
	return &Updater{e: e}, nil
}

// CheckResult is what an update would do.
type CheckResult struct {
	UpdateAvailable bool
	// Eligible is true when the policy (rollout, window, gates) lets the
	// update be installed now; HeldBack says why not.
	Eligible      bool
	HeldBack      []string
	Current       *Version // nil when nothing is installed
	Target        Version
	Add           []string
	Modify        []string
	Delete        []string
	DownloadBytes int64
}

// Check resolves the target and plans the update without changing the
// application files.
func (u *Updater) Check(ctx context.Context) (*CheckResult, error) {
	p, err := u.e.Check(ctx, false)
	if err != nil {
		return nil, err
	}
	return &CheckResult{UpdateAvailable: p.UpdateAvailable, Eligible: p.Eligible, HeldBack: p.HeldBack,
		Current: version(p.Current), Target: *version(&p.Target), Add: p.Add, Modify: p.Modify, Delete: p.Delete,
		DownloadBytes: p.DownloadBytes}, nil
}

// Result describes an update or a rollback.
type Result struct {
	// Updated is false when the folder was up to date or the update was
	// held back (HeldBack says why).
	Updated         bool
	Current         Version
	Previous        *Version
	HeldBack        []string
	FilesDownloaded int
	BytesDownloaded int64
	// OnTrial is true when the release waits for Confirm.
	OnTrial bool
}

// Update brings the folder to the target version when the policy allows
// it now; ignoreSchedule skips the staged rollout and the update window.
// A release that fails its health check is reverted and the error's Kind
// is KindRejected.
func (u *Updater) Update(ctx context.Context, ignoreSchedule bool) (*Result, error) {
	r, err := u.e.Update(ctx, ignoreSchedule)
	return result(r), err
}

// Rollback returns to the version installed before the current one (or
// rejects the release on trial).
func (u *Updater) Rollback(ctx context.Context) (*Result, error) {
	r, err := u.e.Rollback(ctx)
	return result(r), err
}

// Recover finishes or undoes an update interrupted by a crash, and finishes
// a pending trial. It returns what it did ("" for nothing).
func (u *Updater) Recover(ctx context.Context) (string, error) {
	files, trial, err := u.e.Recover(ctx, true)
	if files == "" {
		return trial, err
	}
	return files, err
}

// Confirm keeps the release on trial (the application is healthy). With
// nothing on trial it does nothing.
func (u *Updater) Confirm() error {
	_, err := u.e.Confirm()
	if errors.Is(err, ErrNoTrial) {
		return nil
	}
	return err
}

// Status is what is installed.
type Status struct {
	Current  *Version
	Previous *Version
	// Pending is true when an interrupted update waits for recovery.
	Pending bool
	// OnTrial is the release waiting for Confirm, nil when none.
	OnTrial *Version
}

// Status reads the installed version without changing anything.
func (u *Updater) Status(ctx context.Context) (*Status, error) {
	s, err := u.e.Status(ctx)
	if s == nil {
		return nil, err
	}
	out := &Status{Current: version(s.Current), Previous: version(s.Previous), Pending: s.Pending}
	if s.Trial != nil {
		out.OnTrial = version(&s.Trial.Pending)
	}
	return out, err
}

func version(v *engine.Version) *Version {
	if v == nil {
		return nil
	}
	return &Version{Ref: v.Ref, Commit: v.Commit, Number: v.Number}
}

func result(r *engine.Result) *Result {
	if r == nil {
		return nil
	}
	return &Result{Updated: r.Updated, Current: *version(&r.Current), Previous: version(r.Previous), HeldBack: r.HeldBack,
		FilesDownloaded: r.FilesDownloaded, BytesDownloaded: r.BytesDownloaded, OnTrial: r.OnTrial}
}

// progress adapts a callback to the engine's progress interface.
// Downloads run in parallel, so Add is serialised.
type progress struct {
	f           func(done, total int64)
	mu          sync.Mutex
	done, total int64
}

func (p *progress) Start(_ int, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total = 0, total
	p.f(0, total)
}

func (p *progress) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.f(p.done, p.total)
}

func (p *progress) FileDone(string) {}
func (p *progress) Finish()         {}
