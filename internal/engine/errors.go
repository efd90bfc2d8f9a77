package engine

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"syscall"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/delta"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/hooks"
	"github.com/otafleet/ota/internal/lockfile"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/trial"
)

// Kind classifies an error for exit codes and for scripts.
type Kind int

// Error kinds; the CLI exits with these numbers (documented in the README).
const (
	KindOK       Kind = 0
	KindOther    Kind = 1 // an unexpected failure (a bug: please report it)
	KindConfig   Kind = 2 // bad config or command line
	KindNetwork  Kind = 3 // network or server error, rate limit, missing ref
	KindVerify   Kind = 4 // downloaded or published data failed verification
	KindLocal    Kind = 5 // local filesystem problem (space, permissions, I/O)
	KindRejected Kind = 6 // update applied but rejected (health check) and reverted
	KindBusy     Kind = 7 // another ota process holds the lock
	KindRefused  Kind = 8 // the pre_update hook refused the update; nothing changed
)

// Sentinel errors of the public API.
var (
	ErrNoSpace  = errors.New("not enough free space")
	ErrBusy     = lockfile.ErrBusy
	ErrRejected = errors.New("update rejected and reverted")
	// ErrRefused: the pre_update hook refused the update (nothing changed).
	ErrRefused = hooks.ErrRefused
	ErrCrossFS = errors.New("stage and target are on different filesystems")
	// ErrOtherWriters: target_dir or the state folder is writable by a user
	// other than ota's (and allow_other_writers is off).
	ErrOtherWriters = errors.New("another user can write where ota works")
	// ErrNoTrial: `ota confirm` with no release on trial.
	ErrNoTrial = trial.ErrNoTrial
	// ErrUnsupportedFS: the filesystem lacks what the layout needs.
	ErrUnsupportedFS = errors.New("filesystem not supported by this layout")
)

// Classify maps err to its Kind.
func Classify(err error) Kind {
	var ce *config.Error
	var ne net.Error
	var pe *fs.PathError
	switch {
	case err == nil:
		return KindOK
	case errors.As(err, &ce):
		return KindConfig
	case errors.Is(err, ErrBusy):
		return KindBusy
	case errors.Is(err, ErrRejected):
		return KindRejected
	case errors.Is(err, ErrRefused):
		return KindRefused
	case errors.Is(err, source.ErrUnverified), errors.Is(err, source.ErrBadData), errors.Is(err, source.ErrTruncated),
		errors.Is(err, delta.ErrWrongBase), errors.Is(err, delta.ErrHashMismatch), errors.Is(err, delta.ErrCorrupt),
		errors.Is(err, delta.ErrUnsupportedVersion), errors.Is(err, delta.ErrInvalidMagic):
		return KindVerify
	case errors.Is(err, ErrNoSpace), errors.Is(err, ErrCrossFS), errors.Is(err, ErrOtherWriters), errors.Is(err, fsx.ErrLinkInPath), errors.Is(err, plan.ErrConflict), errors.Is(err, ErrUnsupportedFS), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EACCES),
		errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EIO), errors.Is(err, syscall.EPERM):
		return KindLocal
	case errors.Is(err, source.ErrNotFound), errors.Is(err, source.ErrRateLimit), errors.Is(err, source.ErrServer), errors.Is(err, source.ErrTransfer), errors.Is(err, source.ErrAuth),
		errors.Is(err, source.ErrTooLarge), errors.Is(err, source.ErrNoRange), errors.As(err, &ne),
		errors.Is(err, context.DeadlineExceeded):
		return KindNetwork
	case errors.As(err, &pe):
		return KindLocal
	}
	return KindOther
}
