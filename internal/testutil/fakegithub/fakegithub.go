// Package fakegithub gives tests an in-process GitHub (internal/ghserver)
// that closes with the test.
package fakegithub

import (
	"os/exec"
	"testing"

	"github.com/otafleet/ota/internal/ghserver"
)

// Types and fault kinds of the server.
type (
	Server    = ghserver.Server
	Release   = ghserver.Release
	Asset     = ghserver.Asset
	Request   = ghserver.Request
	Knobs     = ghserver.Knobs
	TreeItem  = ghserver.TreeItem
	Fault     = ghserver.Fault
	FaultKind = ghserver.FaultKind
)

// Faults.
const (
	Status500     = ghserver.Status500
	RateLimit403  = ghserver.RateLimit403
	RateLimit429  = ghserver.RateLimit429
	FailAfter     = ghserver.FailAfter
	StreamForever = ghserver.StreamForever
	Corrupt       = ghserver.Corrupt
	LieLength     = ghserver.LieLength
	IgnoreRange   = ghserver.IgnoreRange
)

// New starts the API and raw servers on 127.0.0.1 for the test's lifetime.
func New(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	s := ghserver.Start(t.TempDir())
	t.Cleanup(s.Close)
	return s
}
