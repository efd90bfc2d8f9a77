package seedmanifest

import (
	"errors"
	"testing"
)

// Vector from seed-system.md §3.1: manifest_gen.py output with MANIFEST_KEY=secret.
const vector = `{"files":[{"crc32":3614867318,"path":"main.py","sha256":"9e9c6b410380b541849e649d791c4508fd4f4cb5ae96f9f0d597179d1b75dce8","size":2430},
          {"crc32":2754003270,"path":"ota.py","sha256":"913b3209cc865cf19f51c26a52441bf5c1661e7958741833af1fdc1237b4cd37","size":63059}],
 "generated_at":"2026-11-27T04:32:39Z","signature":"6dd5a93eccf06fa4b58efe09f00f9800be34bec78e9ce4d4bcd103e2021b08ad","version":"v9.9"}`

func TestVerifyOriginalVector(t *testing.T) {
	m, err := Verify([]byte(vector), "secret")
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "v9.9" || len(m.Files) != 2 || *m.Files[1].Size != 63059 || *m.Files[0].CRC32 != 3614867318 {
		t.Fatalf("parsed %+v", m)
	}
	if _, err := Verify([]byte(vector), "wrong"); !errors.Is(err, ErrSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := Verify([]byte(`{"files":[]}`), "secret"); !errors.Is(err, ErrMissingSignature) {
		t.Fatalf("unsigned: %v", err)
	}
	// Re-marshalling the parsed manifest reproduces the same signature.
	out, err := Marshal(m, "secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(out, "secret"); err != nil {
		t.Fatalf("own output: %v\n%s", err, out)
	}
	m2, _ := Parse(out)
	if m2.Signature != m.Signature {
		t.Fatalf("signature %s, want %s", m2.Signature, m.Signature)
	}
}

// Expected strings produced by CPython 3 json.dumps / json.dump.
func TestPythonCompat(t *testing.T) {
	in := `{"b":[1.0,1e16,1234567.0,0.0001,1e-05,-0.5,123456789012345678901234567890,2.5e-300,1.7976931348623157e308],` +
		`"a":"é\u2028\ud83d\ude00\u007f\u0000\"\\/","c":{},"d":[],"e":null,"f":true}`
	got, err := Canonical([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":"\u00e9\u2028\ud83d\ude00\u007f\u0000\"\\/","b":[1.0,1e+16,1234567.0,0.0001,1e-05,-0.5,123456789012345678901234567890,2.5e-300,1.7976931348623157e+308],"c":{},"d":[],"e":null,"f":true}`
	if string(got) != want {
		t.Fatalf("canonical\n got %s\nwant %s", got, want)
	}
	size := int64(1)
	out, _ := Marshal(&Manifest{Version: "x", Files: []File{{Path: "a", Size: &size}}}, "")
	if want := "{\n  \"files\": [\n    {\n      \"path\": \"a\",\n      \"size\": 1\n    }\n  ],\n  \"version\": \"x\"\n}"; string(out) != want {
		t.Fatalf("indent form\n got %q\nwant %q", out, want)
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add([]byte(vector))
	f.Add([]byte(`{"a":[1.5e300,-0,"\ud800"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Canonical(b)
		if err != nil {
			return
		}
		// Canonical form is a fixed point.
		c2, err := Canonical(c)
		if err != nil || string(c2) != string(c) {
			t.Fatalf("not idempotent: %s -> %s (%v)", c, c2, err)
		}
	})
}
