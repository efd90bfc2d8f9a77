package httpx

import "testing"

func FuzzContentRangeStart(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-9/*", "bytes */10", "items 1-2/3", "bytes -1-2/3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if n, ok := contentRangeStart(h); ok && n < 0 {
			t.Fatalf("%q gave negative start %d", h, n)
		}
	})
}
