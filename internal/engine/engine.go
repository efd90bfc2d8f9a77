// Package engine is ota's one update engine: it keeps a target folder equal
// to a source's target version and never leaves it broken. The CLI, the
// daemon and the public ota package all drive it.
//
// One update, from the top:
//
//	lock ─► recover (1. files, 2. trial) ─► resolve ─► plan ─► policy
//	     ─► trial.Before ─► fetch (stage, verify) ─► layout.activate ─► trial.After
//
// Invariants:
//   - One lock (state_dir/lock) serialises every call that may change
//     target_dir, and it is taken once per call: the daemon holds it for its
//     lifetime; `ota confirm` and `ota status` do not take it.
//   - Recovery runs once per call, first, in this order: (1) the layout
//     finishes or undoes an interrupted switch of files (the in-place
//     journal, or the releases layout's version link), so the folder holds
//     one complete version; (2) a trial left by a crash or reboot is
//     finished (crash-loop breaker, deadline, re-verification) against that
//     version. Step 2 never runs before step 1 has succeeded.
//   - A release is activated only when policy says it is eligible (or the
//     operator ignores the schedule, which still honours bad releases,
//     inhibit, battery and crash gates), and only inside a trial whose record
//     is durable before the activation.
//   - Revert installs the version a trial came from through the same
//     layout; it is never "step back once".
//
// The layout (in place with a journal, or releases with a symlink switch)
// is an interface: the engine has no branch on which one is configured.
package engine

import (
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"time"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/apply"
	"github.com/otafleet/ota/internal/fetch"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/lockfile"
	"github.com/otafleet/ota/internal/policy"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/factory"
	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/statedir"
)

// Version is a release of the application tree.
type Version = source.Version

// Progress receives progress of an update's downloads.
type Progress interface {
	// Start announces the work: files and bytes to fetch.
	Start(files int, bytes int64)
	Add(bytes int64)
	FileDone(path string)
	Finish()
}

// Options are the optional collaborators of an Engine.
type Options struct {
	Logger   *slog.Logger
	FS       fsx.FS        // default: the real filesystem, confined to target_dir
	Source   source.Source // default: built from the config (internal/source/factory)
	Progress Progress      // default: none
	// Patcher applies deltas; nil uses the built-in delta engine.
	Patcher fetch.Patcher
	Now     func() time.Time // default: time.Now
	// DeviceIDPath overrides /etc/machine-id; PowerSupplyDir
	// /sys/class/power_supply (tests).
	DeviceIDPath, PowerSupplyDir string
}

// Engine updates one target folder from one source.
type Engine struct {
	cfg      config.Config
	settings policy.Settings // with defaults
	log      *slog.Logger
	fs       fsx.FS
	src      source.Source
	cache    *state.HTTPCache
	prog     Progress
	patch    fetch.Patcher
	now      func() time.Time
	dirs     apply.Dirs
	layout   layout
	// sameFS reports whether two folders are on one filesystem (a seam for
	// the cross-device refusal test; a real second mount cannot be assumed).
	sameFS                       func(a, b string) (bool, error)
	deviceIDPath, powerSupplyDir string
	// held is set while this process holds the lock (the daemon), so the
	// calls it makes do not take it again.
	held bool
}

// New returns the Engine for cfg (from config.Load).
func New(cfg config.Config, o Options) (*Engine, error) {
	e := &Engine{cfg: cfg, settings: cfg.Policy(), log: o.Logger, fs: o.FS, src: o.Source, prog: o.Progress, patch: o.Patcher,
		now: o.Now, sameFS: sameDevice, deviceIDPath: o.DeviceIDPath, powerSupplyDir: o.PowerSupplyDir}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	target := filepath.ToSlash(cfg.TargetDir)
	if e.fs == nil {
		// Confined to target_dir: no link inside it is ever followed.
		e.fs = fsx.OS{Root: target}
	}
	e.dirs = apply.Dirs{
		Target: target,
		Stage:  path.Join(target, cfg.StageDir),
		Backup: path.Join(target, cfg.BackupDir),
		State:  path.Join(target, cfg.StateDir),
	}
	e.cache = state.OpenHTTPCache(e.fs, e.dirs.State)
	if e.patch == nil {
		e.patch = factory.Patcher()
	}
	if e.src == nil {
		s, err := factory.New(cfg, e.cache, e.log)
		if err != nil {
			return nil, err
		}
		e.src = s
	}
	if cfg.Layout == "releases" {
		e.layout = &releasesLayout{e: e}
	} else {
		e.layout = &inPlace{e: e}
	}
	return e, nil
}

// Config returns the configuration the Engine was built with.
func (e *Engine) Config() config.Config { return e.cfg }

// Dirs returns the folders the Engine works in.
func (e *Engine) Dirs() apply.Dirs { return e.dirs }

// lock takes the one lock without waiting (the error wraps ErrBusy, exit
// code 7), after checking that nobody else can plant files where ota works.
// The kernel releases it when the process dies.
func (e *Engine) lock() (func(), error) {
	if e.held {
		return func() {}, nil
	}
	if _, ok := e.fs.(fsx.OS); ok {
		if err := checkWriters(e.cfg.AllowOtherWriters, e.dirs.Target, e.dirs.State); err != nil {
			return nil, err
		}
	}
	if _, err := fsx.MkdirAll(e.fs, e.dirs.State, 0o755); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	if _, ok := e.fs.(fsx.OS); !ok {
		return func() {}, nil // an in-memory test filesystem has no other process
	}
	return lockfile.Lock(e.fs, path.Join(e.dirs.State, statedir.Lock), "lock (held by an update or the daemon)")
}

// locked runs f under the lock.
func locked[T any](e *Engine, f func() (T, error)) (T, error) {
	unlock, err := e.lock()
	if err != nil {
		var zero T
		return zero, err
	}
	defer unlock()
	return f()
}

// installed is the version in place (nil when none).
func (e *Engine) installed() *Version { return e.layout.installed() }

func (e *Engine) saveCache() {
	if err := e.cache.Save(); err != nil {
		e.log.Warn("could not save the HTTP cache (the next check will cost more requests)", "err", err)
	}
}

// partDir holds downloads in progress: inside state_dir, a namespace no
// repository path reaches (the stage mirrors repository paths).
func (e *Engine) partDir() string { return path.Join(e.dirs.State, statedir.Partial) }

// clearStage drops the stage and partial downloads after an update.
func (e *Engine) clearStage() {
	for _, d := range []string{e.dirs.Stage, e.partDir()} {
		if err := fsx.RemoveAll(e.fs, d); err != nil {
			e.log.Warn("could not empty the stage folder", "dir", d, "err", err)
		}
	}
}
