package engine

import (
	"context"
	"time"

	"github.com/otafleet/ota/internal/state"
	"github.com/otafleet/ota/internal/trial"
)

// Status is what is installed and what the agent last did. It is
// `ota status --json`.
type Status struct {
	Current  *Version `json:"current"`
	Previous *Version `json:"previous"`
	Pending  bool     `json:"pending"`
	// Version is the published version number of the installed release
	// (signed repositories only).
	Version int64 `json:"version,omitempty"`
	// PendingTo is the version an interrupted update was going to.
	PendingTo   *Version           `json:"pending_to,omitempty"`
	Errors      []string           `json:"errors,omitempty"`
	LastCheck   time.Time          `json:"last_check,omitzero"`
	LastSuccess time.Time          `json:"last_success,omitzero"`
	NextCheck   time.Time          `json:"next_check,omitzero"`
	LastError   string             `json:"last_error,omitempty"`
	Trial       *trial.Record      `json:"trial"`
	BadReleases []trial.BadRelease `json:"bad_releases"`
	Failures    int                `json:"consecutive_failures"`
}

// Status reads everything without changing anything: no lock, no request,
// no recovery.
func (e *Engine) Status(ctx context.Context) (*Status, error) {
	s := &Status{Current: state.ReadVersion(e.fs, e.dirs.Target), Errors: state.ReadErrors(e.fs, e.dirs.Target), BadReleases: []trial.BadRelease{}}
	if err := e.layout.status(s); err != nil {
		return s, err
	}
	st := e.store()
	ss := st.Status()
	s.LastCheck, s.LastSuccess, s.NextCheck, s.LastError, s.Failures = ss.LastCheck, ss.LastSuccess, ss.NextCheck, ss.LastError, ss.ConsecutiveFailures
	if errs, _ := st.Errors(); len(errs) > 0 && s.LastError == "" {
		s.LastError = errs[len(errs)-1]
	}
	var err error
	if s.Trial, err = st.Load(); err != nil {
		return s, err
	}
	if b, _ := st.BadReleases(); b != nil {
		s.BadReleases = b
	}
	return s, nil
}
