package repo

import (
	"encoding/json"
	"fmt"
	"time"
)

// Document type markers (inside the payload, in addition to the envelope's
// payload type).
const (
	KindRoot    = "ota-root"
	KindRelease = "ota-release"
)

// Root is the delegation document signed by the offline root keys.
type Root struct {
	Kind    string    `json:"_type"` // KindRoot
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
	// SigningKeys may sign release metadata.
	SigningKeys []SigningKey `json:"signing_keys"`
	// Threshold is how many distinct signing keys must sign a release.
	Threshold int `json:"threshold"`
	// Revoked lists key ids that must not be trusted any more, even if
	// still listed in SigningKeys.
	Revoked []string `json:"revoked,omitempty"`
}

// SigningKey is an online key delegated by the root.
type SigningKey struct {
	KeyID   string    `json:"keyid"`
	Public  PublicKey `json:"public"`
	Expires time.Time `json:"expires"`
}

// Release is the metadata of one published version.
type Release struct {
	Kind    string    `json:"_type"` // KindRelease
	Version int64     `json:"version"`
	Ref     string    `json:"ref"`
	Commit  string    `json:"commit"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Files   []File    `json:"files"`
	Deltas  []Delta   `json:"deltas,omitempty"`
	Rollout *Rollout  `json:"rollout,omitempty"`
}

// File is one entry of the released tree.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	SHA1   string `json:"sha1"` // git blob SHA-1
	Mode   uint32 `json:"mode"` // 0o100644, 0o100755 or 0o120000
	// LinkTarget is the symlink target for Mode 0o120000; the object's
	// content equals it, and it must stay inside the tree.
	LinkTarget string `json:"link_target,omitempty"`
}

// Delta is a patch that turns the blob From into the blob To.
type Delta struct {
	FromSHA256 string `json:"from_sha256"`
	FromSHA1   string `json:"from_sha1"`
	ToSHA256   string `json:"to_sha256"`
	ToSHA1     string `json:"to_sha1"`
	Format     string `json:"format"` // "v2" (or "v1"): the delta package's formats
	Object     string `json:"object"` // path relative to the repository root
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
}

// Rollout is an optional staged-rollout policy read by the daemon; the
// publisher and the sources only carry it.
type Rollout struct {
	Start        time.Time `json:"start,omitzero"`
	StartPercent float64   `json:"start_percent"`
	RampDuration Duration  `json:"ramp_duration,omitzero"`
	Paused       bool      `json:"paused,omitempty"`
	Pulled       bool      `json:"pulled,omitempty"`
}

// Duration is a time.Duration encoded as a Go duration string ("36h").
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// Bundle is the file a client fetches: the delegation and one release.
type Bundle struct {
	Root    *Envelope `json:"root"`
	Release *Envelope `json:"release"`
}

// Marshal encodes b as it is stored in the repository.
func (b *Bundle) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", " ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// ParseBundle decodes a Bundle without verifying it.
func ParseBundle(data []byte) (*Bundle, error) {
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrMalformed, err)
	}
	if b.Root == nil || b.Release == nil {
		return nil, fmt.Errorf("%w: bundle needs \"root\" and \"release\"", ErrMalformed)
	}
	return &b, nil
}

// UnverifiedRelease decodes the release payload of a bundle WITHOUT checking
// any signature. Only the publisher uses it, on its own repository.
func UnverifiedRelease(data []byte) (*Release, error) {
	b, err := ParseBundle(data)
	if err != nil {
		return nil, err
	}
	var r Release
	if err := strictUnmarshal(b.Release.Signed, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ObjectPath is where the content with this SHA-256 lives.
func ObjectPath(sha256hex string) string {
	return "objects/" + sha256hex[:2] + "/" + sha256hex
}

// DeltaPath is where a delta between two blobs lives.
func DeltaPath(fromSHA256, toSHA256, format string) string {
	return "deltas/" + fromSHA256 + "-" + toSHA256 + "." + format
}

// MetadataPath is the immutable bundle of one version.
func MetadataPath(version int64) string { return fmt.Sprintf("metadata/%d.json", version) }

// LatestPath is the bundle of the newest version.
const LatestPath = "latest.json"

// Git file modes allowed in File.Mode.
const (
	ModeFile       uint32 = 0o100644
	ModeExecutable uint32 = 0o100755
	ModeSymlink    uint32 = 0o120000
)
