package engine

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// freeBytes returns the bytes available to unprivileged users at dir.
func freeBytes(dir string) (int64, bool) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, false
	}
	return int64(s.Bavail) * int64(s.Bsize), true
}

// sameDevice reports whether a and b are on one filesystem.
func sameDevice(a, b string) (bool, error) {
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(a, &sa); err != nil {
		return false, err
	}
	if err := syscall.Stat(b, &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev, nil
}

// checkWriters refuses folders that a user other than ota's (or root) can
// write to, unless allow is set: such a user could plant links or files for
// ota, often running as root, to act on.
func checkWriters(allow bool, dirs ...string) error {
	if allow {
		return nil
	}
	euid, egid := os.Geteuid(), os.Getegid()
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil {
			continue // a missing state folder is made by ota, 0755
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		who := ""
		switch m := fi.Mode(); {
		case m&0o002 != 0 && m&fs.ModeSticky == 0:
			who = "every user (mode " + m.Perm().String() + ")"
		case m&0o002 != 0:
			who = "every user (mode " + m.Perm().String() + ", sticky)"
		case int(st.Uid) != euid && st.Uid != 0:
			who = fmt.Sprintf("its owner, uid %d", st.Uid)
		case m&0o020 != 0 && int(st.Gid) != egid && st.Gid != 0:
			who = fmt.Sprintf("group %d (mode %s)", st.Gid, m.Perm())
		}
		if who != "" {
			return fmt.Errorf("%w: %s is writable by %s, and ota (uid %d) would act on what is planted there: "+
				"make it writable only by ota's user (chown, chmod go-w), or set allow_other_writers = true if you trust them "+
				"(ota still never follows a link inside target_dir)", ErrOtherWriters, d, who, euid)
		}
	}
	return nil
}
