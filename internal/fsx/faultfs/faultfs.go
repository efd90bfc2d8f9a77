// Package faultfs wraps an fsx.FS and makes every mutating operation fail
// after the first N, as if the process died there. It drives crash-point
// tests on the real filesystem; crashfs models lost, unsynced writes.
package faultfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/otafleet/ota/internal/fsx"
)

// ErrInjected is returned by every mutating operation after the limit.
var ErrInjected = errors.New("faultfs: injected failure")

// FS fails mutating operations after Limit of them succeeded (Limit < 0: never).
type FS struct {
	fsx.FS
	mu    sync.Mutex
	Limit int
	n     int
	Log   []string
}

// New wraps inner; limit < 0 records without failing.
func New(inner fsx.FS, limit int) *FS { return &FS{FS: inner, Limit: limit} }

// Count is the number of mutating operations attempted.
func (f *FS) Count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.n }

func (f *FS) step(op string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.Limit >= 0 && f.n > f.Limit {
		return fmt.Errorf("%s: %w", op, ErrInjected)
	}
	f.Log = append(f.Log, strings.TrimSpace(fmt.Sprintln(append([]any{op}, args...)...)))
	return nil
}

func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (fsx.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) == 0 {
		return f.FS.OpenFile(name, flag, perm)
	}
	if err := f.step("open", name); err != nil {
		return nil, err
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &file_{File: file, fs: f, name: name}, nil
}

func (f *FS) Rename(o, n string) error {
	if err := f.step("rename", o, n); err != nil {
		return err
	}
	return f.FS.Rename(o, n)
}
func (f *FS) Remove(n string) error {
	if err := f.step("remove", n); err != nil {
		return err
	}
	return f.FS.Remove(n)
}
func (f *FS) Mkdir(n string, p fs.FileMode) error {
	if err := f.step("mkdir", n); err != nil {
		return err
	}
	return f.FS.Mkdir(n, p)
}
func (f *FS) Symlink(t, n string) error {
	if err := f.step("symlink", n); err != nil {
		return err
	}
	return f.FS.Symlink(t, n)
}
func (f *FS) Link(o, n string) error {
	if err := f.step("link", o, n); err != nil {
		return err
	}
	return f.FS.Link(o, n)
}
func (f *FS) Chmod(n string, m fs.FileMode) error {
	if err := f.step("chmod", n); err != nil {
		return err
	}
	return f.FS.Chmod(n, m)
}
func (f *FS) SyncDir(n string) error {
	if err := f.step("syncdir", n); err != nil {
		return err
	}
	return f.FS.SyncDir(n)
}

type file_ struct {
	fsx.File
	fs   *FS
	name string
}

func (w *file_) Write(p []byte) (int, error) {
	if err := w.fs.step("write", w.name); err != nil {
		return 0, err
	}
	return w.File.Write(p)
}
func (w *file_) Sync() error {
	if err := w.fs.step("fsync", w.name); err != nil {
		return err
	}
	return w.File.Sync()
}
