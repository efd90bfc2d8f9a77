package github

import (
	"bytes"
	"testing"
)

// FuzzDecodeTree: arbitrary tree JSON never panics, and whatever is
// accepted has valid paths and is within the file cap.
func FuzzDecodeTree(f *testing.F) {
	f.Add([]byte(`{"sha":"x","tree":[{"path":"a/b","mode":"100644","type":"blob","sha":"` + sha40 + `","size":3}],"truncated":false}`))
	f.Add([]byte(`{"tree":[{"path":"../x","mode":"100644","type":"blob","sha":"` + sha40 + `","size":1}]}`))
	f.Add([]byte(`{"tree":[{"path":"s","mode":"160000","type":"commit","sha":"` + sha40 + `"}],"truncated":true}`))
	f.Add([]byte(`{"tree":[`))
	s, err := New(Config{Owner: "o", Repo: "r", MaxTreeFiles: 5})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w := s.newWalk(sha40)
		_, err := s.decodeTree(w, bytes.NewReader(data), "", true)
		if err != nil {
			return
		}
		if len(w.entries) > 5 {
			t.Fatalf("%d entries past the cap", len(w.entries))
		}
		for _, e := range w.entries {
			if validPath(e.Path) != nil || !isSHA(e.BlobSHA1) || e.Size < 0 {
				t.Fatalf("accepted bad entry %+v", e)
			}
		}
	})
}

// FuzzValidPath: accepted paths never escape the root.
func FuzzValidPath(f *testing.F) {
	for _, s := range []string{"a", "../a", "a/../b", "/a", "a\\b", "a//b", "ü/ß"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if validPath(p) != nil {
			return
		}
		for _, part := range bytes.Split([]byte(p), []byte("/")) {
			if len(part) == 0 || string(part) == "." || string(part) == ".." || bytes.ContainsAny(part, "\\\x00") {
				t.Fatalf("accepted %q", p)
			}
		}
	})
}

const sha40 = "0123456789abcdef0123456789abcdef01234567"
