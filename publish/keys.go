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
