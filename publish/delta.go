package publish

import (
	"bytes"
	"fmt"
	"math/bits"

	"github.com/klauspost/compress/zstd"
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

// ZstdPatch is a STAND-IN until the delta package (format v2) is merged:
// zstd "patch-from", i.e. new compressed with old as a raw dictionary.
// Clients must know the format to apply it (Delta.Format "zstd-patch"; the
// frames also start with the zstd magic 28 b5 2f fd).
var ZstdPatch = DeltaEngine{Format: "zstd-patch", Make: zstdPatchMake, Apply: ZstdPatchApply}

func window(old, new int) int {
	n := max(old+new, zstd.MinWindowSize)
	w := 1 << bits.Len(uint(n-1))
	return min(w, zstd.MaxWindowSize)
}

func zstdPatchMake(old, new []byte) ([]byte, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderDictRaw(0, old),
		zstd.WithWindowSize(window(len(old), len(new))),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	if err != nil {
		return nil, fmt.Errorf("zstd patch: %w", err)
	}
	defer enc.Close()
	return enc.EncodeAll(new, nil), nil
}

// ZstdPatchApply reverses the stand-in ZstdPatch.
func ZstdPatchApply(old, patch []byte) ([]byte, error) {
	dec, err := zstd.NewReader(bytes.NewReader(patch),
		zstd.WithDecoderDictRaw(0, old),
		zstd.WithDecoderMaxWindow(uint64(zstd.MaxWindowSize)),
		zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zstd patch: %w", err)
	}
	defer dec.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(dec); err != nil {
		return nil, fmt.Errorf("zstd patch: %w", err)
	}
	return out.Bytes(), nil
}
