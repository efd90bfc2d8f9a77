package publish

import (
	"bytes"
	"fmt"

	"github.com/otafleet/ota/delta"
)

// DeltaFunc makes a patch that turns old into new.
type DeltaFunc func(old, new []byte) ([]byte, error)

// DeltaEngine is a delta format the publisher can produce. Format names the
// file extension and the Delta.Format field in metadata.
type DeltaEngine struct {
	Format string
	Make   DeltaFunc
	// Apply, when set, is used to check every delta before it is published.
	Apply func(old, patch []byte) ([]byte, error)
}

func engine(f delta.Format, name string) DeltaEngine {
	return DeltaEngine{
		Format: name,
		Make:   func(old, new []byte) ([]byte, error) { return delta.DiffBytes(old, new, delta.Options{Format: f}) },
		Apply:  ApplyDelta,
	}
}

// Delta engines of the delta package: V2 (the smallest patches; the default)
// and V1 (the original updater's format, for MicroPython devices).
var (
	V2 = engine(delta.V2, "v2")
	V1 = engine(delta.V1, "v1")
)

// ApplyDelta applies a v1 or v2 patch in memory (publish-time self-check).
func ApplyDelta(old, patch []byte) ([]byte, error) {
	var out bytes.Buffer
	if _, err := delta.Apply(bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), &out, delta.ApplyOptions{}); err != nil {
		return nil, fmt.Errorf("delta self-check: %w", err)
	}
	return out.Bytes(), nil
}
