package publish

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"encoding/json"

	"github.com/otafleet/ota/repo"
)

// Key file names inside a keys directory (see package repo).
const (
	RootKeyFile    = "root.key"
	RootPubFile    = "root.pub"
	SigningKeyFile = "signing.key"
	SigningPubFile = "signing.pub"
	RootFile       = "root.json"
)

// KeygenOptions configures Keygen.
type KeygenOptions struct {
	Dir            string
	RootExpires    time.Duration // delegation validity; default 2 years
	SigningExpires time.Duration // signing key validity; default 1 year
	Now            func() time.Time
}

// Keygen creates a root key pair, a signing key pair and the delegation
// (root.json) signed by the root key. It refuses to overwrite any key.
func Keygen(o KeygenOptions) error {
	if o.Dir == "" {
		return errors.New("keygen: no directory given")
	}
	now := nowFunc(o.Now)()
	if o.RootExpires <= 0 {
		o.RootExpires = 2 * 365 * 24 * time.Hour
	}
	if o.SigningExpires <= 0 {
		o.SigningExpires = 365 * 24 * time.Hour
	}
	for _, n := range []string{RootKeyFile, SigningKeyFile, RootFile} {
		if _, err := os.Stat(filepath.Join(o.Dir, n)); err == nil {
			return fmt.Errorf("keygen: %s already exists in %s; refusing to overwrite keys", n, o.Dir)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	rootPub, rootKey, err := repo.GenerateKey()
	if err != nil {
		return err
	}
	signPub, signKey, err := repo.GenerateKey()
	if err != nil {
		return err
	}
	root := repo.Root{
		Kind: repo.KindRoot, Version: 1, Expires: now.Add(o.RootExpires).UTC().Truncate(time.Second),
		SigningKeys: []repo.SigningKey{{KeyID: signPub.ID(), Public: signPub, Expires: now.Add(o.SigningExpires).UTC().Truncate(time.Second)}},
		Threshold:   1,
	}
	rootJSON, err := SignRoot(root, rootKey)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{RootKeyFile, repo.MarshalPrivateKey(rootKey), 0o600},
		{RootPubFile, []byte(rootPub.String() + "\n"), 0o644},
		{SigningKeyFile, repo.MarshalPrivateKey(signKey), 0o600},
		{SigningPubFile, []byte(signPub.String() + "\n"), 0o644},
		{RootFile, rootJSON, 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(o.Dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
	}
	return nil
}

// SignRoot signs a delegation with the root key(s); the result is root.json.
// Use it to rotate, add or revoke signing keys (bump Version).
func SignRoot(root repo.Root, rootKeys ...repo.PrivateKey) ([]byte, error) {
	root.Kind = repo.KindRoot
	env, err := repo.SignJSON(repo.TypeRoot, root, rootKeys...)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(env, "", " ")
	return append(b, '\n'), err
}

// keyset is what publish needs from a keys directory.
type keyset struct {
	root    *repo.Envelope
	signers []repo.PrivateKey
	rootPub []repo.PublicKey // from root*.pub, for a self-check; may be empty
}

// loadKeys reads root.json, every signing*.key and every root*.pub.
func loadKeys(dir string) (*keyset, error) {
	b, err := os.ReadFile(filepath.Join(dir, RootFile))
	if err != nil {
		return nil, fmt.Errorf("keys: %w (create keys with \"ota keygen %s\")", err, dir)
	}
	var env repo.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", RootFile, err)
	}
	ks := &keyset{root: &env}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "signing") && strings.HasSuffix(n, ".key"):
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				return nil, err
			}
			k, err := repo.ParsePrivateKey(b)
			if err != nil {
				return nil, fmt.Errorf("keys: %s: %w", n, err)
			}
			ks.signers = append(ks.signers, k)
		case strings.HasPrefix(n, "root") && strings.HasSuffix(n, ".pub"):
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				return nil, err
			}
			k, err := repo.ParsePublicKey(string(b))
			if err != nil {
				return nil, fmt.Errorf("keys: %s: %w", n, err)
			}
			ks.rootPub = append(ks.rootPub, k)
		}
	}
	if len(ks.signers) == 0 {
		return nil, fmt.Errorf("keys: no signing*.key in %s: %w", dir, fs.ErrNotExist)
	}
	return ks, nil
}

func nowFunc(f func() time.Time) func() time.Time {
	if f != nil {
		return f
	}
	return time.Now
}

// ResignOptions configures Resign.
type ResignOptions struct {
	Dir            string
	RootExpires    time.Duration // default 2 years
	SigningExpires time.Duration // default 1 year, applied to every listed key
	// Revoke lists signing key ids to revoke; their private key files in Dir
	// are renamed to *.key.revoked so publish stops using them.
	Revoke []string
	// NewSigningKey adds a fresh signing key (signing-<keyid[:8]>.key/.pub).
	NewSigningKey bool
	Now           func() time.Time
}

// Resign re-signs root.json with root.key: a new version with fresh expiry
// times, optional revocations and an optional new signing key. Devices that
// trust root.pub accept it at once; devices that saw the revocation refuse
// metadata signed only by the revoked key.
func Resign(o ResignOptions) (*repo.Root, error) {
	now := nowFunc(o.Now)()
	if o.RootExpires <= 0 {
		o.RootExpires = 2 * 365 * 24 * time.Hour
	}
	if o.SigningExpires <= 0 {
		o.SigningExpires = 365 * 24 * time.Hour
	}
	kb, err := os.ReadFile(filepath.Join(o.Dir, RootKeyFile))
	if err != nil {
		return nil, fmt.Errorf("resign: %w (the offline root key is needed)", err)
	}
	rootKey, err := repo.ParsePrivateKey(kb)
	if err != nil {
		return nil, err
	}
	ks, err := loadKeys(o.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if ks == nil {
		return nil, fmt.Errorf("resign: no signing key left in %s", o.Dir)
	}
	var root repo.Root
	if err := json.Unmarshal(ks.root.Signed, &root); err != nil {
		return nil, fmt.Errorf("resign: %s: %w", RootFile, err)
	}
	root.Version++
	root.Expires = now.Add(o.RootExpires).UTC().Truncate(time.Second)
	for i := range root.SigningKeys {
		root.SigningKeys[i].Expires = now.Add(o.SigningExpires).UTC().Truncate(time.Second)
	}
	root.Revoked = append(root.Revoked, o.Revoke...)
	if o.NewSigningKey {
		pub, key, err := repo.GenerateKey()
		if err != nil {
			return nil, err
		}
		base := "signing-" + pub.ID()[:8]
		if err := os.WriteFile(filepath.Join(o.Dir, base+".key"), repo.MarshalPrivateKey(key), 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(o.Dir, base+".pub"), []byte(pub.String()+"\n"), 0o644); err != nil {
			return nil, err
		}
		root.SigningKeys = append(root.SigningKeys, repo.SigningKey{KeyID: pub.ID(), Public: pub,
			Expires: now.Add(o.SigningExpires).UTC().Truncate(time.Second)})
	}
	revoked := map[string]bool{}
	for _, id := range root.Revoked {
		revoked[id] = true
	}
	ents, _ := os.ReadDir(o.Dir)
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "signing") || !strings.HasSuffix(n, ".key") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(o.Dir, n))
		if err != nil {
			return nil, err
		}
		if k, err := repo.ParsePrivateKey(b); err == nil && revoked[k.Public().ID()] {
			if err := os.Rename(filepath.Join(o.Dir, n), filepath.Join(o.Dir, n+".revoked")); err != nil {
				return nil, err
			}
		}
	}
	data, err := SignRoot(root, rootKey)
	if err != nil {
		return nil, err
	}
	if err := replace(o.Dir, RootFile, data); err != nil {
		return nil, err
	}
	return &root, nil
}
