// Package sdnotify speaks systemd's notify protocol (sd_notify(3)): one unix
// datagram per message to $NOTIFY_SOCKET, which may be a path or an abstract
// socket written with a leading '@'.
//
// Invariant: with $NOTIFY_SOCKET unset every call is a no-op returning nil,
// so the agent behaves the same outside systemd.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Messages understood by systemd.
const (
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	Reloading = "RELOADING=1"
	Watchdog  = "WATCHDOG=1"
)

// Notifier sends to one socket; the zero value (or one from an empty
// environment) is disabled.
type Notifier struct {
	addr string // "" = disabled
}

// New reads the socket from getenv("NOTIFY_SOCKET") (os.Getenv when nil).
func New(getenv func(string) string) Notifier {
	if getenv == nil {
		getenv = os.Getenv
	}
	return Notifier{addr: getenv("NOTIFY_SOCKET")}
}

// Enabled reports whether a socket is configured.
func (n Notifier) Enabled() bool { return n.addr != "" }

// Notify sends the newline-joined state lines in one datagram.
func (n Notifier) Notify(lines ...string) error {
	if n.addr == "" {
		return nil
	}
	name := n.addr
	if name[0] == '@' {
		name = "\x00" + name[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: dial %s: %w", n.addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(lines, "\n"))); err != nil {
		return fmt.Errorf("sd_notify: send to %s: %w", n.addr, err)
	}
	return nil
}

// Status sends STATUS=<s> (single line; newlines are replaced).
func (n Notifier) Status(s string) error {
	return n.Notify("STATUS=" + strings.ReplaceAll(s, "\n", " "))
}

// WatchdogInterval returns how often to send WATCHDOG=1: half of
// $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises. ok is false when the
// watchdog is off or $WATCHDOG_PID names another process.
func WatchdogInterval(getenv func(string) string) (d time.Duration, ok bool) {
	if getenv == nil {
		getenv = os.Getenv
	}
	us, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0, false
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(os.Getpid()) {
		return 0, false
	}
	return time.Duration(us) * time.Microsecond / 2, true
}
