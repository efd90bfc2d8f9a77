package delta

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// benchPair is a 4 MiB pseudo-random file and an edited copy.
func benchPair(b *testing.B) (old, new []byte) {
	rng := rand.New(rand.NewPCG(11, 12))
	old = make([]byte, 4<<20)
	for i := range old {
		old[i] = byte(rng.Uint32())
	}
	return old, edit(rng, old, 64)
}

func benchmarkApply(b *testing.B, f Format) {
	old, new := benchPair(b)
	p, err := DiffBytes(old, new, Options{Format: f})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(new)))
	b.ResetTimer()
	for range b.N {
		if _, err := Apply(bytes.NewReader(old), int64(len(old)), bytes.NewReader(p), io.Discard, ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyV1(b *testing.B) { benchmarkApply(b, V1) }
func BenchmarkApplyV2(b *testing.B) { benchmarkApply(b, V2) }

func BenchmarkDiffV2(b *testing.B) {
	old, new := benchPair(b)
	b.SetBytes(int64(len(new)))
	for range b.N {
		DiffBytes(old, new, Options{Format: V2})
	}
}
