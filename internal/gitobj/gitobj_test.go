package gitobj

import (
	"strings"
	"testing"
)

func TestBlobSHA1(t *testing.T) {
	// Known values from `git hash-object`.
	cases := map[string]string{
		"":        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
		"hello\n": "ce013625030ba8dba906f756967f9e9ca394464a",
	}
	for in, want := range cases {
		if got := BlobSHA1Bytes([]byte(in)); got != want {
			t.Errorf("BlobSHA1Bytes(%q) = %s, want %s", in, got, want)
		}
		got, err := BlobSHA1(strings.NewReader(in), int64(len(in)))
		if err != nil || got != want {
			t.Errorf("BlobSHA1(%q) = %s, %v", in, got, err)
		}
	}
	if _, err := BlobSHA1(strings.NewReader("abc"), 4); err == nil {
		t.Error("short content accepted")
	}
}
