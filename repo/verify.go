package repo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Default limits; go-tuf's are of the same order.
const (
	DefaultMaxMetadataSize = 16 << 20
	DefaultMaxFileSize     = 1 << 30
	DefaultMaxFiles        = 100_000
	DefaultMaxTotalSize    = 8 << 30
)

// Limits bound everything a repository can make a client download or hold.
// Zero fields take the defaults.
type Limits struct {
	MaxMetadataSize int64 // bytes of one bundle
	MaxFileSize     int64 // bytes of one file or delta
	MaxFiles        int   // entries in one release
	MaxTotalSize    int64 // bytes of all files of one release
}

func (l Limits) withDefaults() Limits {
	if l.MaxMetadataSize <= 0 {
		l.MaxMetadataSize = DefaultMaxMetadataSize
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultMaxFileSize
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultMaxTotalSize
	}
	return l
}

// Seen is what a device remembers between checks to refuse rollbacks: the
// highest root and release versions it has verified.
type Seen struct {
	Root    int64 `json:"root"`
	Release int64 `json:"release"`
}

// Verifier checks bundles against the device's trusted root keys.
type Verifier struct {
	TrustedKeys   []PublicKey
	RootThreshold int              // root signatures required on the delegation; default 1
	Now           func() time.Time // default time.Now
	ClockSlack    time.Duration    // tolerated clock error when checking expiry
	Limits        Limits
}

// Verified is the outcome of a successful verification.
type Verified struct {
	Root    *Root
	Release *Release
}

// Seen returns the versions to persist after accepting v.
func (v *Verified) Seen(prev Seen) Seen {
	return Seen{Root: max(prev.Root, v.Root.Version), Release: max(prev.Release, v.Release.Version)}
}

// Verify checks a bundle completely (signatures, thresholds, key validity,
// expiry, rollback against seen, paths, sizes) before returning its content.
func (v *Verifier) Verify(data []byte, seen Seen) (*Verified, error) {
	lim := v.Limits.withDefaults()
	if int64(len(data)) > lim.MaxMetadataSize {
		return nil, fmt.Errorf("%w: metadata is %d bytes, limit %d", ErrTooLarge, len(data), lim.MaxMetadataSize)
	}
	b, err := ParseBundle(data)
	if err != nil {
		return nil, err
	}
	root, signKeys, t, err := v.verifyRoot(b.Root, seen)
	if err != nil {
		return nil, err
	}
	payload, err := verifyEnvelope(b.Release, TypeRelease, signKeys, root.Threshold)
	if err != nil {
		return nil, fmt.Errorf("release metadata: %w", err)
	}
	var rel Release
	if err := strictUnmarshal(payload, &rel); err != nil {
		return nil, fmt.Errorf("release metadata: %w", err)
	}
	if rel.Kind != KindRelease || rel.Version < 1 {
		return nil, fmt.Errorf("release metadata: %w: _type %q version %d", ErrMalformed, rel.Kind, rel.Version)
	}
	if err := v.checkFresh("release", rel.Version, rel.Expires, t, seen); err != nil {
		return nil, err
	}
	if err := CheckRelease(&rel, lim); err != nil {
		return nil, fmt.Errorf("release metadata version %d: %w", rel.Version, err)
	}
	return &Verified{Root: root, Release: &rel}, nil
}

// VerifiedHead is the outcome of a successful VerifyHead.
type VerifiedHead struct {
	Root *Root
	Head *Head
}

// Seen returns the versions to persist after accepting v.
func (v *VerifiedHead) Seen(prev Seen) Seen {
	return Seen{Root: max(prev.Root, v.Root.Version), Release: max(prev.Release, v.Head.Version)}
}

// VerifyHead checks a head bundle with the same rules as Verify (the head's
// version shares the release numbering, so seen.Release guards both
// formats). The manifest it names is checked by Manifest.
func (v *Verifier) VerifyHead(data []byte, seen Seen) (*VerifiedHead, error) {
	lim := v.Limits.withDefaults()
	if int64(len(data)) > lim.MaxMetadataSize {
		return nil, fmt.Errorf("%w: metadata is %d bytes, limit %d", ErrTooLarge, len(data), lim.MaxMetadataSize)
	}
	b, err := ParseHeadBundle(data)
	if err != nil {
		return nil, err
	}
	root, signKeys, t, err := v.verifyRoot(b.Root, seen)
	if err != nil {
		return nil, err
	}
	payload, err := verifyEnvelope(b.Head, TypeHead, signKeys, root.Threshold)
	if err != nil {
		return nil, fmt.Errorf("head metadata: %w", err)
	}
	var h Head
	if err := strictUnmarshal(payload, &h); err != nil {
		return nil, fmt.Errorf("head metadata: %w", err)
	}
	if h.Kind != KindHead || h.Version < 1 {
		return nil, fmt.Errorf("head metadata: %w: _type %q version %d", ErrMalformed, h.Kind, h.Version)
	}
	if err := v.checkFresh("head", h.Version, h.Expires, t, seen); err != nil {
		return nil, err
	}
	m := h.Manifest
	if m.Format != ManifestFormat || !isHex(m.SHA256, 64) || m.Size < 0 {
		return nil, fmt.Errorf("head metadata version %d: %w: manifest %+v", h.Version, ErrMalformed, m)
	}
	if m.Size > lim.MaxMetadataSize || m.Files > lim.MaxFiles {
		return nil, fmt.Errorf("head metadata version %d: %w: manifest of %d bytes and %d files (limits %d, %d)",
			h.Version, ErrTooLarge, m.Size, m.Files, lim.MaxMetadataSize, lim.MaxFiles)
	}
	return &VerifiedHead{Root: root, Head: &h}, nil
}

// Manifest checks manifest bytes against the verified head (size and
// SHA-256 first, then the content as CheckRelease does) and returns the
// release they make together.
func (v *Verifier) Manifest(vh *VerifiedHead, data []byte) (*Release, error) {
	h := vh.Head
	if int64(len(data)) != h.Manifest.Size || sha256Hex(data) != h.Manifest.SHA256 {
		return nil, fmt.Errorf("manifest of version %d: %w: size or sha256 differs from the signed head", h.Version, ErrHashMismatch)
	}
	files, deltas, err := DecodeManifest(data, v.Limits)
	if err != nil {
		return nil, fmt.Errorf("manifest of version %d: %w", h.Version, err)
	}
	if len(files) != h.Manifest.Files {
		return nil, fmt.Errorf("manifest of version %d: %w: %d files, the head says %d", h.Version, ErrMalformed, len(files), h.Manifest.Files)
	}
	return &Release{Kind: KindRelease, Version: h.Version, Ref: h.Ref, Commit: h.Commit, Created: h.Created,
		Expires: h.Expires, Files: files, Deltas: deltas, Rollout: h.Rollout}, nil
}

// verifyRoot checks the delegation and returns it, the signing keys it
// delegates (with the reason each may not count) and the time checked at.
func (v *Verifier) verifyRoot(env *Envelope, seen Seen) (*Root, map[string]keyInfo, time.Time, error) {
	if len(v.TrustedKeys) == 0 {
		return nil, nil, time.Time{}, fmt.Errorf("%w: no trusted root keys configured", ErrUnknownKey)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t := now()
	rootKeys := map[string]keyInfo{}
	for _, k := range v.TrustedKeys {
		rootKeys[k.ID()] = keyInfo{key: k}
	}
	rt := max(v.RootThreshold, 1)
	payload, err := verifyEnvelope(env, TypeRoot, rootKeys, rt)
	if err != nil {
		return nil, nil, t, fmt.Errorf("root metadata: %w", err)
	}
	var root Root
	if err := strictUnmarshal(payload, &root); err != nil {
		return nil, nil, t, fmt.Errorf("root metadata: %w", err)
	}
	if err := checkRoot(&root, t, v.ClockSlack); err != nil {
		return nil, nil, t, fmt.Errorf("root metadata: %w", err)
	}
	if root.Version < seen.Root {
		return nil, nil, t, fmt.Errorf("root metadata: %w: version %d, already seen %d", ErrRollback, root.Version, seen.Root)
	}
	revoked := map[string]bool{}
	for _, id := range root.Revoked {
		revoked[id] = true
	}
	signKeys := map[string]keyInfo{}
	for _, sk := range root.SigningKeys {
		ki := keyInfo{key: sk.Public}
		switch {
		case revoked[sk.KeyID]:
			ki.refused = fmt.Errorf("%w: %s", ErrKeyRevoked, sk.KeyID)
		case t.After(sk.Expires.Add(v.ClockSlack)):
			ki.refused = fmt.Errorf("%w: %s expired %s", ErrKeyExpired, sk.KeyID, sk.Expires.UTC().Format(time.RFC3339))
		}
		signKeys[sk.KeyID] = ki
	}
	return &root, signKeys, t, nil
}

// checkFresh refuses expired metadata and versions below the highest seen.
func (v *Verifier) checkFresh(what string, version int64, expires, t time.Time, seen Seen) error {
	if t.After(expires.Add(v.ClockSlack)) {
		return fmt.Errorf("%s metadata version %d: %w on %s (now %s); the publisher must re-publish or re-sign",
			what, version, ErrExpired, expires.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	if version < seen.Release {
		return fmt.Errorf("%s metadata: %w: version %d, already seen %d", what, ErrRollback, version, seen.Release)
	}
	return nil
}

// SHA256Hex is the lowercase hex SHA-256 of b.
func SHA256Hex(b []byte) string { return sha256Hex(b) }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func checkRoot(r *Root, now time.Time, slack time.Duration) error {
	if r.Kind != KindRoot || r.Version < 1 || r.Threshold < 1 {
		return fmt.Errorf("%w: _type %q version %d threshold %d", ErrMalformed, r.Kind, r.Version, r.Threshold)
	}
	if now.After(r.Expires.Add(slack)) {
		return fmt.Errorf("%w on %s: re-sign the delegation with the root key (ota keygen --resign DIR)", ErrExpired, r.Expires.UTC().Format(time.RFC3339))
	}
	for _, sk := range r.SigningKeys {
		if len(sk.Public) == 0 || sk.KeyID != sk.Public.ID() {
			return fmt.Errorf("%w: signing key id %q does not match its public key", ErrMalformed, sk.KeyID)
		}
	}
	return nil
}

// CheckRelease validates the content of release metadata: paths, modes,
// hashes, sizes and symlink targets.
func CheckRelease(rel *Release, lim Limits) error {
	lim = lim.withDefaults()
	if len(rel.Files) > lim.MaxFiles {
		return fmt.Errorf("%w: %d files, limit %d", ErrTooLarge, len(rel.Files), lim.MaxFiles)
	}
	var total int64
	paths := make(map[string]bool, len(rel.Files))
	for i := range rel.Files {
		f := &rel.Files[i]
		if err := CheckPath(f.Path); err != nil {
			return err
		}
		if paths[f.Path] {
			return fmt.Errorf("%w: %q listed twice", ErrUnsafePath, f.Path)
		}
		paths[f.Path] = true
		if f.Size < 0 || f.Size > lim.MaxFileSize {
			return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, f.Path, f.Size, lim.MaxFileSize)
		}
		total += f.Size
		if total > lim.MaxTotalSize {
			return fmt.Errorf("%w: release totals more than %d bytes", ErrTooLarge, lim.MaxTotalSize)
		}
		if !isHex(f.SHA256, 64) || !isHex(f.SHA1, 40) {
			return fmt.Errorf("%w: %s: sha256/sha1 must be lowercase hex", ErrMalformed, f.Path)
		}
		switch f.Mode {
		case 0o100644, 0o100755:
			if f.LinkTarget != "" {
				return fmt.Errorf("%w: %s: link_target on a regular file", ErrMalformed, f.Path)
			}
		case 0o120000:
			if err := CheckLinkTarget(f.Path, f.LinkTarget); err != nil {
				return err
			}
			sum := sha256.Sum256([]byte(f.LinkTarget))
			if int64(len(f.LinkTarget)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
				return fmt.Errorf("%w: symlink %s: link_target does not match size/sha256", ErrMalformed, f.Path)
			}
		default:
			return fmt.Errorf("%w: %s: mode %o", ErrMalformed, f.Path, f.Mode)
		}
	}
	// A path may not be both a file and a directory ("a" and "a/b"): that
	// would let a symlink "a" redirect the write of "a/b".
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	for _, p := range sorted {
		for i := strings.IndexByte(p, '/'); i >= 0; i = next(p, i) {
			if paths[p[:i]] {
				return fmt.Errorf("%w: %q is a file and also a directory of %q", ErrUnsafePath, p[:i], p)
			}
		}
	}
	for _, d := range rel.Deltas {
		if !isHex(d.FromSHA256, 64) || !isHex(d.ToSHA256, 64) || !isHex(d.SHA256, 64) ||
			!isHex(d.FromSHA1, 40) || !isHex(d.ToSHA1, 40) || !isToken(d.Format) {
			return fmt.Errorf("%w: delta %s: bad hash or format", ErrMalformed, d.Object)
		}
		if d.Object != DeltaPath(d.FromSHA256, d.ToSHA256, d.Format) {
			return fmt.Errorf("%w: delta object %q is not at its content address", ErrUnsafePath, d.Object)
		}
		if d.Size < 0 || d.Size > lim.MaxFileSize {
			return fmt.Errorf("%w: delta %s is %d bytes, limit %d", ErrTooLarge, d.Object, d.Size, lim.MaxFileSize)
		}
	}
	return nil
}

func next(p string, i int) int {
	j := strings.IndexByte(p[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// strictUnmarshal decodes one JSON value and refuses trailing data.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after JSON value", ErrMalformed)
	}
	return nil
}
