package crashfs

// AfterCrash returns the filesystem as the restarted process sees it after a
// process kill: everything performed before the crash is there (the page
// cache survives). The result is a fresh, checkpointed FS (empty op log, no
// crash configured); f is unchanged.
func (f *FS) AfterCrash() *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.live.clone()
	t.prune()
	return f.reborn(t)
}

// AfterPowerCut returns the disk after a power cut under the ordered-journal
// model described in the package comment: namespace operations up to the
// last fsync, file data as of each file's last fsync.
func (f *FS) AfterPowerCut() *FS { return f.afterPowerCut(ordered) }

// AfterPowerCutCommitted is AfterPowerCut when the journal happened to
// commit every namespace operation just before the cut (ext4 commits in the
// background every few seconds) while file data is still only as of each
// file's last fsync. It finds the zero-length files left by rename or
// O_TRUNC without fsync. See the package comment.
func (f *FS) AfterPowerCutCommitted() *FS { return f.afterPowerCut(committed) }

// AfterPowerCutStrict returns the disk after a power cut under the strict
// model: a namespace operation survives only if every directory it changed
// (for a rename: both) was fsynced after it. See the package comment.
func (f *FS) AfterPowerCutStrict() *FS { return f.afterPowerCut(strict) }

type cutModel uint8

const (
	ordered cutModel = iota
	committed
	strict
)

func (f *FS) afterPowerCut(model cutModel) *FS {
	f.mu.Lock()
	defer f.mu.Unlock()
	commit := -1 // op index of the last fsync: the last journal commit
	lastSync := map[uint64]int{}
	for _, s := range f.syncs {
		commit = max(commit, s.idx)
		lastSync[s.ino] = max(lastSync[s.ino], s.idx)
	}
	if model == committed {
		commit = len(f.ops)
	}
	t := f.base.clone()
	for _, op := range f.ns {
		if model != strict {
			if op.idx > commit {
				break
			}
			t.apply(op, 0)
			continue
		}
		keep := true
		for _, ino := range op.touched() {
			if s, ok := lastSync[ino]; !ok || s < op.idx {
				keep = false
			}
		}
		if keep {
			t.apply(op, 0) // dropped if an earlier drop broke its preconditions
		}
	}
	t.prune()
	for ino, n := range t.nodes {
		if n.kind != kFile {
			continue
		}
		n.data = nil
		d := f.dur[ino]
		if d == nil || !d.has {
			continue // never fsynced: delayed allocation leaves it empty
		}
		trunc := -1 // last committed truncation
		for _, i := range d.truncs {
			if i <= commit {
				trunc = max(trunc, i)
			}
		}
		if trunc > d.syncAt {
			continue
		}
		n.data = append([]byte(nil), d.data...)
	}
	return f.reborn(t)
}

// reborn wraps t in a fresh FS; f.mu must be held.
func (f *FS) reborn(t *tree) *FS {
	nf := &FS{dev: f.dev, next: f.next, live: t, crashAfter: -1, clock: f.clock}
	nf.checkpoint()
	return nf
}
