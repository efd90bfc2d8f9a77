// Package statedir names every file and folder ota keeps inside target_dir
// and state_dir (default target_dir/.ota), in one place. The packages that
// own each file (listed per name, and in docs/design.md) take their names
// from here, so a reader sees the whole on-disk footprint at once.
package statedir

// In target_dir, next to the application.
const (
	// Version is version.json, the original's commit point: the installed
	// version (a link into current in the releases layout). Owner: state.
	Version = "version.json"
	// Errors is ota_error.json, the bounded error log the original kept
	// there. Owners: state (read), trial (write).
	Errors = "ota_error.json"
	// Releases, Current and Previous are the releases layout: immutable
	// release folders and the two links naming them. Owner: releases.
	Releases = "releases"
	Current  = "current"
	Previous = "previous"
)

// In state_dir.
const (
	// Lock is the one lock every command that may change target_dir takes
	// (flock; the holder is named from /proc/locks). Owner: engine.
	Lock = "lock"
	// Journal is the intent journal of an in-place update. Owner: apply.
	Journal = "journal.json"
	// Index is the installed index: every managed file's hash, mode, size
	// and stat stamp. Owner: state.
	Index = "installed.json"
	// PreviousIndex is the index of the version before the installed one,
	// whose displaced files are kept in Objects (rollback). Owner: state.
	PreviousIndex = "previous.json"
	// Objects holds files an in-place update displaced, by git blob SHA-1.
	// Owner: apply (write), source/previous (read).
	Objects = "objects"
	// Store is the releases layout's content-addressed store. Owner: releases.
	Store = "store"
	// Partial holds downloads in progress, by SHA-256 (resumable). Owner: fetch.
	Partial = "partial"
	// HTTPCacheIndex and HTTPCacheDir are the HTTP cache: ETags and
	// verified bodies. Owner: state (httpcache).
	HTTPCacheIndex = "http-cache.json"
	HTTPCacheDir   = "http-cache"
	// Seen records the highest signed-repository versions accepted
	// (rollback protection across restarts). Owner: repo (FileSeen).
	Seen = "repo-seen.json"
	// Manifest is the last verified signed manifest: the base of the next
	// manifest delta. Owner: source/signedrepo.
	Manifest = "repo-manifest"
	// Trial, BadReleases and Status are the trial record, the releases that
	// failed one, and the last check's status. Owner: trial.
	Trial       = "trial.json"
	BadReleases = "bad_releases.json"
	Status      = "status.json"
	// CrashLog lists recent crashes (crash-deferral gate). Owner: policy.
	CrashLog = "crashes.json"
	// Metrics is the persisted metrics snapshot. Owner: metrics (via engine).
	Metrics = "metrics.json"
	// Running exists while the daemon runs; found at start, the previous
	// run did not stop cleanly. Owner: engine (daemon).
	Running = "daemon.running"
	// Inhibit, when present, holds every update back (default inhibit_file).
	// Owner: gate.
	Inhibit = "inhibit"
)
