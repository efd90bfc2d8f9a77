// Package lockfile serialises ota processes with an exclusive flock on a
// file in the state folder. The kernel releases a flock when its process
// dies, so a crash never leaves the lock held.
//
// The lock file is created 0600 and opened without following links: a user
// who cannot write the state folder cannot open the file, so cannot hold
// the lock to block updates; an error names the process that holds it.
package lockfile

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/otafleet/ota/internal/fsx"
)

// ErrBusy is wrapped when another process holds the lock.
var ErrBusy = errors.New("another ota process is running")

// Lock takes the lock at name (what says whose lock it is, for errors)
// without waiting. The returned func releases it.
func Lock(fsys fsx.FS, name, what string) (func(), error) {
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", what, name, err)
	}
	fd, ok := f.(interface{ Fd() uintptr })
	if !ok {
		// An in-memory test filesystem has no other process to exclude.
		return func() { f.Close() }, nil
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(fd.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s %s: %w", what, name, err)
	}
	if int(st.Uid) != os.Geteuid() && os.Geteuid() == 0 {
		f.Close()
		return nil, fmt.Errorf("%s %s belongs to uid %d, not to ota's user: remove it (ota makes its own)", what, name, st.Uid)
	}
	if st.Mode&0o077 != 0 {
		// Made by an older ota (0644): nobody else may open it from now on.
		if err := syscall.Fchmod(int(fd.Fd()), 0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("chmod %s %s: %w", what, name, err)
		}
	}
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s %s is held by %s: wait for it to finish (or stop that process)", ErrBusy, what, name, Holder(st))
	}
	return func() { f.Close() }, nil
}

// Holder describes the process holding a flock on the file st describes,
// from /proc/locks: "pid 123 (ota), uid 0", or "another process".
func Holder(st syscall.Stat_t) string {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return "another process"
	}
	defer f.Close()
	// 1: FLOCK  ADVISORY  WRITE 1234 08:01:131090 0 EOF
	want := fmt.Sprintf(":%d", st.Ino)
	maj, min := (st.Dev>>8)&0xfff|(st.Dev>>32)&^0xfff, st.Dev&0xff|(st.Dev>>12)&^0xff
	dev := fmt.Sprintf("%02x:%02x%s", maj, min, want)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		if fields[5] != dev && !strings.HasSuffix(fields[5], want) {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil {
			continue
		}
		return describe(pid)
	}
	return "another process"
}

func describe(pid int) string {
	s := fmt.Sprintf("pid %d", pid)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
		s += " (" + strings.TrimSpace(string(b)) + ")"
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				s += ", uid " + f[1]
			}
		}
	}
	return s
}
