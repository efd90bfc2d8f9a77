package publish

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/otafleet/ota/internal/fsx"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/otafleet/ota/repo"
)

// store writes content-addressed files into the repository. Every file is
// written to a temporary name, fsynced, then renamed into place; an existing
// object is never rewritten.
type store struct {
	root    string // repository root (OS path)
	created int    // objects that did not exist before
}

type blob struct {
	sha256 string
	sha1   string
	size   int64
}

// putObject streams size bytes of r into objects/, hashing as it goes.
func (s *store) putObject(r io.Reader, size int64) (blob, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.root, "objects"), ".tmp-")
	if err != nil {
		return blob{}, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h256, h1 := sha256.New(), sha1.New()
	h1.Write([]byte("blob " + strconv.FormatInt(size, 10) + "\x00"))
	n, err := io.Copy(io.MultiWriter(tmp, h256, h1), io.LimitReader(r, size))
	if err == nil && n != size {
		err = fmt.Errorf("short read: %d of %d bytes (file changed while publishing?)", n, size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return blob{}, err
	}
	b := blob{sha256: hex.EncodeToString(h256.Sum(nil)), sha1: hex.EncodeToString(h1.Sum(nil)), size: size}
	return b, s.install(tmp.Name(), repo.ObjectPath(b.sha256))
}

// putFile writes data at rel (a content-addressed name) unless it exists.
func (s *store) putFile(rel string, data []byte) error {
	dst := filepath.Join(s.root, filepath.FromSlash(rel))
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := writeTemp(filepath.Dir(dst), data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return s.install(tmp, rel)
}

// install renames tmp to rel unless rel exists, then fsyncs the directory.
func (s *store) install(tmp, rel string) error {
	dst := filepath.Join(s.root, filepath.FromSlash(rel))
	if _, err := os.Stat(dst); err == nil {
		return nil // content-addressed: same name, same bytes
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	if strings.HasPrefix(rel, "objects/") {
		s.created++
	}
	return syncDir(filepath.Dir(dst))
}

func (s *store) read(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.root, filepath.FromSlash(rel)))
}

// syncDir fsyncs a folder (the agent's implementation, which also accepts
// filesystems that refuse fsync on a directory).
func syncDir(dir string) error { return fsx.OS{}.SyncDir(dir) }

// writeTemp writes data to a new temporary file in dir, fsyncs and closes it
// and makes it 0644; the caller renames or links it into place and removes
// the name afterwards.
func writeTemp(dir string, data []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// writeNew durably creates rel with data and fails if it already exists.
func writeNew(root, rel string, data []byte) error {
	dst := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := writeTemp(filepath.Dir(dst), data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, dst); err != nil { // fails if dst exists
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// replace durably replaces rel with data (write tmp, fsync, rename, fsync dir).
func replace(root, rel string, data []byte) error {
	return replaceWith(root, rel, data, time.Time{})
}

// replaceWith is replace with a minimum mtime (zero: none).
func replaceWith(root, rel string, data []byte, minMtime time.Time) error {
	dst := filepath.Join(root, filepath.FromSlash(rel))
	tmp, err := writeTemp(filepath.Dir(dst), data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if !minMtime.IsZero() && time.Now().Before(minMtime) {
		err = os.Chtimes(tmp, minMtime, minMtime)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}
