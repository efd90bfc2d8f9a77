package lockfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/otafleet/ota/internal/fsx"
)

func TestLockIsPrivateAndNamesItsHolder(t *testing.T) {
	dir := filepath.ToSlash(t.TempDir())
	name := dir + "/lock"
	// An older ota made the file 0644; the lock makes it 0600.
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fsys := fsx.OS{Root: dir}
	unlock, err := Lock(fsys, name, "lock")
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode %v, want 0600", fi.Mode().Perm())
	}
	_, err = Lock(fsys, name, "lock")
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v (want busy, naming pid %d)", err, os.Getpid())
	}
	unlock()
	unlock, err = Lock(fsys, name, "lock")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}

func TestLockRefusesALinkInItsPlace(t *testing.T) {
	dir := filepath.ToSlash(t.TempDir())
	other := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(other, []byte("keep"), 0o644)
	os.Symlink(other, dir+"/lock")
	if _, err := Lock(fsx.OS{Root: dir}, dir+"/lock", "lock"); !errors.Is(err, fsx.ErrLinkInPath) {
		t.Fatalf("lock through a link: %v", err)
	}
	if fi, _ := os.Stat(other); fi.Mode().Perm() != 0o644 {
		t.Fatal("the link's target was changed")
	}
}
