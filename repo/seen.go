package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sync"

	"github.com/otafleet/ota/internal/fsx"
)

// SeenStore persists the highest versions a device has accepted.
type SeenStore interface {
	Load() (Seen, error)
	Save(Seen) error
}

// MemSeen is an in-memory SeenStore (tests, one-shot tools).
type MemSeen struct {
	mu sync.Mutex
	s  Seen
}

func (m *MemSeen) Load() (Seen, error) { m.mu.Lock(); defer m.mu.Unlock(); return m.s, nil }
func (m *MemSeen) Save(s Seen) error   { m.mu.Lock(); defer m.mu.Unlock(); m.s = s; return nil }

// FileSeen stores Seen as JSON in one file, replaced durably.
type FileSeen struct {
	FS   fsx.FS // nil means fsx.OS
	Path string // absolute, slash-separated
}

func (f FileSeen) fs() fsx.FS {
	if f.FS == nil {
		return fsx.OS{}
	}
	return f.FS
}

func (f FileSeen) Load() (Seen, error) {
	var s Seen
	b, err := fsx.ReadFile(f.fs(), f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read %s: %w", f.Path, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read %s: %w (delete it only if you accept losing rollback protection)", f.Path, err)
	}
	return s, nil
}

func (f FileSeen) Save(s Seen) error {
	b, _ := json.Marshal(s)
	if _, err := fsx.MkdirAll(f.fs(), path.Dir(f.Path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if err := fsx.WriteFileAtomic(f.fs(), f.Path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	return nil
}
