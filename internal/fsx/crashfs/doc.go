// Package crashfs is a deterministic in-memory fsx.FS for crash-point
// enumeration: it records every mutating operation, can make the (n+1)-th
// one "crash", and can then produce the filesystem a rebooted agent would
// find, under several crash models.
//
// # Filesystem
//
// Names are absolute slash paths. The tree holds regular files (content,
// permission bits), directories, symlinks (relative targets resolve from the
// link's directory, ".." is resolved physically, at most 40 links) and hard
// links with link counts. FileInfo.Sys() is a *fsx.Stat{Dev, Ino}; ModTime is
// a logical clock. Errors are what the os package returns on Linux: a
// *fs.PathError (an *os.LinkError for Rename, Link and Symlink) wrapping a
// syscall.Errno, so errors.Is(err, fs.ErrNotExist) and
// errors.Is(err, syscall.ENOTEMPTY) behave as on the real OS; differential
// tests against the OS (scripted and randomized) compare the error texts.
// Rename atomically replaces a file and is a no-op between two links of one
// inode. It refuses (EEXIST) to replace a directory, even an empty one,
// because os.Rename on Unix checks for that before calling rename(2), so the
// agent can never rely on it. Open files keep their inode after rename or
// unlink.
// Not modelled: umask (perm is used as given), ownership, setuid/sticky bits,
// trailing-slash semantics (a trailing slash is ignored), O_NOFOLLOW,
// O_SYNC/O_DSYNC, sparse holes (they read as zeros), ENOSPC, EXDEV.
//
// # Recording and crashing
//
// Mutating operations are: OpenFile that creates, truncates or opens for
// writing; File.Write; File.Sync; SyncDir; Rename; Remove (unlink or rmdir);
// Mkdir; Symlink; Link; Chmod. Each attempt is appended to the op log (Ops,
// Count), including attempts that fail with an ordinary error. Close and all
// reads are not recorded. After CrashAfter(n), the (n+1)-th mutating
// operation fails with ErrCrashed and has no effect; from then on every call
// (reads and Close included) fails with ErrCrashed, as the process is dead.
// Checkpoint makes the current state durable and restarts counting; setup
// code (WriteTree, FromOS) ends with it.
//
// # Crash models
//
// AfterCrash ("crash", a process kill): everything performed before the
// crash survives, because the page cache does. The result is treated as
// durable; a later power cut does not lose the previous run's unsynced data.
//
// AfterPowerCut ("powercut"): an ordered-metadata journaling filesystem like
// ext4 data=ordered with delayed allocation, at its least forgiving:
//   - Namespace operations (create, rename, unlink, mkdir, rmdir, symlink,
//     link, chmod, and truncation by O_TRUNC) persist as a prefix of the log:
//     those before the last successful fsync of anything (file or directory;
//     an fsync commits the whole journal). Later ones are lost.
//   - File data persists only as of that inode's last fsync. A file written
//     but never fsynced is empty (length 0); a file fsynced and then written
//     again reverts to its fsynced content; a committed O_TRUNC not followed
//     by an fsync of the file leaves it empty. Files present at the last
//     Checkpoint count as fsynced then.
//
// AfterPowerCutCommitted ("powercut-commit"): as AfterPowerCut, but the
// journal happened to commit every namespace operation just before the cut
// (ext4 commits in the background every few seconds), so all of them persist
// while file data is still only as of each file's last fsync. A background
// commit at an earlier moment k gives the same disk as this model at crash
// point k, so enumerating crash points under "powercut" and "powercut-commit"
// covers every commit moment. This is the model that produces the famous
// zero-length file after "write tmp, rename" or "O_TRUNC, write" without
// fsync.
//
// AfterPowerCutStrict ("powercut-strict"): the POSIX letter. A namespace
// operation persists only if each directory it changed (for a rename: source
// and destination directories) was fsynced after it; a chmod only if the
// inode itself was fsynced after it. A file fsync does not persist its name.
// Operations are replayed in log order, and one whose preconditions no
// longer hold because an earlier one was dropped (its parent directory was
// never made durable, say) is dropped too. File data follows the same rule as
// AfterPowerCut. This model catches missing directory fsyncs, for instance
// after MkdirAll-like code that forgets the parent.
//
// Limits of the models. They are pessimistic about unsynced data (real ext4
// often keeps more: auto_da_alloc flushes data on rename-over and
// truncate-then-close; data=ordered may write it out early) but optimistic
// about hardware and the kernel: no torn or partially persisted writes (a
// file's data is all-or-nothing per fsync), no partially written journal
// transaction, no fsync that fails or lies (fsyncgate, disks without flush),
// no ENOSPC/EIO. Timestamps and link counts of directories are not checked.
// Process kill followed later by a power cut is not modelled: AfterCrash
// treats the surviving page cache as durable.
//
// # Enumeration
//
// Enumerate runs a function once to count its operations N and then, for
// every crash point 0..N and every model (Models), reruns it crashing there and calls
// a check on the rebooted filesystem. EnumerateNested additionally crashes
// a recovery function at its own crash points. Snapshot, Diff and WriteTree
// compare and seed trees on any fsx.FS, including the real OS.
package crashfs
