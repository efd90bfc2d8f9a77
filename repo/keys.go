package repo

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// PublicKey is an Ed25519 public key.
type PublicKey ed25519.PublicKey

// PrivateKey is an Ed25519 private key.
type PrivateKey ed25519.PrivateKey

const (
	pubPrefix   = "ed25519:"
	pemKeyBlock = "OTA ED25519 PRIVATE KEY"
)

// GenerateKey makes a new key pair from crypto/rand.
func GenerateKey() (PublicKey, PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	return PublicKey(pub), PrivateKey(priv), err
}

// KeyFromSeed derives a key pair from a 32-byte seed (tests and fuzzing).
func KeyFromSeed(seed []byte) (PublicKey, PrivateKey) {
	priv := ed25519.NewKeyFromSeed(seed)
	return PublicKey(priv.Public().(ed25519.PublicKey)), PrivateKey(priv)
}

// ID is the key id: lowercase hex SHA-256 of the raw public key.
func (k PublicKey) ID() string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:])
}

// String is the "ed25519:<base64>" form used in key files and trusted_keys.
func (k PublicKey) String() string { return pubPrefix + base64.StdEncoding.EncodeToString(k) }

// MarshalText implements encoding.TextMarshaler.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *PublicKey) UnmarshalText(b []byte) error {
	p, err := ParsePublicKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// ParsePublicKey parses "ed25519:<base64>" (surrounding space is ignored).
func ParsePublicKey(s string) (PublicKey, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, pubPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: public key %q: want \"ed25519:<base64>\"", ErrMalformed, short(s))
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key %q: want %d bytes of standard base64", ErrMalformed, short(s), ed25519.PublicKeySize)
	}
	return PublicKey(b), nil
}

// ParsePublicKeys parses a trusted_keys list; it refuses an empty list.
func ParsePublicKeys(list []string) ([]PublicKey, error) {
	if len(list) == 0 {
		return nil, errors.New("no trusted keys configured: add the root public key (root.pub) to trusted_keys")
	}
	out := make([]PublicKey, 0, len(list))
	for _, s := range list {
		k, err := ParsePublicKey(s)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// Public returns the public half of k.
func (k PrivateKey) Public() PublicKey {
	return PublicKey(ed25519.PrivateKey(k).Public().(ed25519.PublicKey))
}

// MarshalPrivateKey encodes k as a PEM block holding the 32-byte seed.
func MarshalPrivateKey(k PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemKeyBlock, Bytes: ed25519.PrivateKey(k).Seed()})
}

// ParsePrivateKey decodes what MarshalPrivateKey wrote.
func ParsePrivateKey(b []byte) (PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemKeyBlock || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: private key: want a PEM block %q with a %d-byte seed", ErrMalformed, pemKeyBlock, ed25519.SeedSize)
	}
	return PrivateKey(ed25519.NewKeyFromSeed(blk.Bytes)), nil
}

func short(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
