package repo

import "errors"

// Errors returned (wrapped) by verification; test with errors.Is.
var (
	ErrMalformed    = errors.New("malformed metadata")
	ErrBadSignature = errors.New("invalid signature")
	ErrUnknownKey   = errors.New("signed by an unknown key")
	ErrThreshold    = errors.New("not enough valid signatures")
	ErrKeyRevoked   = errors.New("signing key revoked")
	ErrKeyExpired   = errors.New("signing key expired")
	ErrExpired      = errors.New("metadata expired")
	ErrRollback     = errors.New("version older than one already seen (rollback)")
	ErrUnsafePath   = errors.New("unsafe path")
	ErrTooLarge     = errors.New("size exceeds limit")
	ErrHashMismatch = errors.New("content does not match signed metadata")
)
