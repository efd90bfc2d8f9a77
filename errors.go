package ota

import "github.com/otafleet/ota/internal/engine"

// Kind classifies an error for exit codes and for scripts.
type Kind int

// Error kinds; the ota command exits with these numbers (see the README).
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

// Classify maps err to its Kind.
func Classify(err error) Kind { return Kind(engine.Classify(err)) }

// Errors to test with errors.Is.
var (
	// ErrBusy: another ota process holds the folder's lock.
	ErrBusy = engine.ErrBusy
	// ErrRejected: the update failed its health check and was reverted.
	ErrRejected = engine.ErrRejected
	// ErrRefused: the pre_update hook refused the update (nothing changed).
	ErrRefused = engine.ErrRefused
	// ErrNoSpace: not enough free space for the update.
	ErrNoSpace = engine.ErrNoSpace
	// ErrNoTrial: Confirm with no release on trial (Confirm ignores it).
	ErrNoTrial = engine.ErrNoTrial
)
