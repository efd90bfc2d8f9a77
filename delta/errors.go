package delta

import "errors"

// Sentinel errors. The v1 messages follow the original updater's wording so
// that logs from old and new devices read the same.
var (
	// ErrCorrupt is matched (errors.Is) by every error caused by malformed or
	// truncated patch bytes.
	ErrCorrupt = errors.New("corrupt delta")
	// ErrInvalidMagic: the patch does not start with "OTADELTA".
	ErrInvalidMagic = errors.New("Invalid delta magic")
	// ErrUnsupportedVersion: the version byte is neither 1 nor 2.
	ErrUnsupportedVersion = errors.New("Unsupported delta version")
	// ErrWrongBase: a v2 patch was made against a different old file.
	ErrWrongBase = errors.New("delta base mismatch")
	// ErrHashMismatch: the output's SHA-256 differs from the expected one.
	ErrHashMismatch = errors.New("Output hash mismatch")
	// ErrTooLarge: the output would exceed ApplyOptions.MaxOutput.
	ErrTooLarge = errors.New("delta output too large")
)

// formatError is a malformed-patch error with a seed-compatible message. It
// matches ErrCorrupt and, if set, a more specific sentinel.
type formatError struct {
	msg  string
	kind error
}

func (e *formatError) Error() string { return e.msg }
func (e *formatError) Is(target error) bool {
	return target == ErrCorrupt || (e.kind != nil && target == e.kind)
}

func corrupt(msg string) error { return &formatError{msg: msg} }
