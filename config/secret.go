package config

import (
	"log/slog"
	"strconv"
	"time"
)

// Secret is a credential (token). It prints, logs and marshals as REDACTED;
// Reveal gives the value to the one place that sends it.
type Secret string

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// GoString implements fmt.GoStringer so %#v does not leak it either.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps the secret out of JSON/YAML dumps of a config.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// Seconds converts a config value in seconds (fractions allowed) to a
// duration: the one conversion every *_sec key goes through.
func Seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// NoLimit maps a size or count limit from the config, where 0 means "no
// limit" for every key that takes one, to the value a limit check compares
// against: n itself, or for 0 a bound no device reaches (2^40, which still
// survives a KiB-to-bytes shift without overflow).
func NoLimit(n int64) int64 {
	if n == 0 {
		return 1 << 40
	}
	return n
}
