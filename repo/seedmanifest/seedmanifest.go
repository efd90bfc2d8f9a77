// Package seedmanifest reads and writes the original system's manifest.json
// (0x687931/ota, manifest mode) byte-compatibly: fields version,
// generated_at, files[] {path,size,sha256,crc32}, deletes, post_update and
// signature = hex HMAC-SHA256 over json.dumps(manifest minus "signature",
// sort_keys=True, separators=(",",":")) with CPython semantics
// (ensure_ascii, float repr). The HMAC key is shared by every device, so a
// verified manifest proves far less than a signed repository: callers should
// accept it only to migrate existing fleets, with a warning.
package seedmanifest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxSize bounds a manifest accepted by Parse/Verify (the original had none).
const MaxSize = 8 << 20

// Errors with the original's messages.
var (
	ErrMissingSignature = errors.New("manifest missing signature")
	ErrSignature        = errors.New("manifest signature mismatch")
	ErrMalformed        = errors.New("malformed manifest")
)

// File is one files[] entry; nil pointers mean "absent" as in the original.
type File struct {
	Path   string  `json:"path"`
	Size   *int64  `json:"size,omitempty"`
	SHA256 string  `json:"sha256,omitempty"`
	CRC32  *uint32 `json:"crc32,omitempty"`
}

// Manifest is the typed view of a manifest.
type Manifest struct {
	Version     string   `json:"version,omitempty"`
	GeneratedAt string   `json:"generated_at,omitempty"`
	Files       []File   `json:"files,omitempty"`
	Deletes     []string `json:"deletes,omitempty"`
	PostUpdate  string   `json:"post_update,omitempty"`
	Signature   string   `json:"signature,omitempty"`
}

// decode parses JSON keeping numbers exact (json.Number).
func decode(data []byte) (map[string]any, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(data), MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	return m, nil
}

// Canonical returns the bytes the original signs: the manifest without
// "signature", sort_keys, separators (",",":"), ensure_ascii.
func Canonical(data []byte) ([]byte, error) {
	m, err := decode(data)
	if err != nil {
		return nil, err
	}
	delete(m, "signature")
	return pyDump(m, -1)
}

// Sign computes the original's signature over canonical bytes.
func Sign(canonical []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(canonical)
	return hex.EncodeToString(mac.Sum(nil))
}

// Parse decodes a manifest without checking its signature.
func Parse(data []byte) (*Manifest, error) {
	if _, err := decode(data); err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return &m, nil
}

// Verify checks the signature exactly like the original (constant-time
// compare of the hex strings) and returns the manifest. An empty key accepts
// the manifest unsigned, as the original did; callers should warn.
func Verify(data []byte, key string) (*Manifest, error) {
	m, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return m, nil
	}
	raw, _ := decode(data)
	sig, ok := raw["signature"].(string)
	if !ok || sig == "" {
		return nil, ErrMissingSignature
	}
	canon, err := Canonical(data)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(Sign(canon, key)), []byte(sig)) {
		return nil, ErrSignature
	}
	return m, nil
}

// Marshal writes m as manifest_gen.py does (json.dump sort_keys=True,
// indent=2, no trailing newline), signing it when key is not empty.
func Marshal(m *Manifest, key string) ([]byte, error) {
	v := map[string]any{}
	if m.Version != "" {
		v["version"] = m.Version
	}
	if m.GeneratedAt != "" {
		v["generated_at"] = m.GeneratedAt
	}
	files := make([]any, 0, len(m.Files))
	for _, f := range m.Files {
		e := map[string]any{"path": f.Path}
		if f.Size != nil {
			e["size"] = *f.Size
		}
		if f.SHA256 != "" {
			e["sha256"] = f.SHA256
		}
		if f.CRC32 != nil {
			e["crc32"] = *f.CRC32
		}
		files = append(files, e)
	}
	v["files"] = files
	if len(m.Deletes) > 0 {
		d := make([]any, len(m.Deletes))
		for i, s := range m.Deletes {
			d[i] = s
		}
		v["deletes"] = d
	}
	if m.PostUpdate != "" {
		v["post_update"] = m.PostUpdate
	}
	if key != "" {
		canon, err := pyDump(v, -1)
		if err != nil {
			return nil, err
		}
		v["signature"] = Sign(canon, key)
	}
	return pyDump(v, 2)
}
