package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	abstract := "@ota-test-" + strconv.Itoa(os.Getpid())
	for _, addr := range []string{path, abstract} {
		var c *net.UnixConn
		if addr[0] == '@' {
			c = listen(t, "\x00"+addr[1:])
		} else {
			c = listen(t, addr)
		}
		n := New(func(string) string { return addr })
		if err := n.Notify(Ready, "STATUS=idle"); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, c); got != "READY=1\nSTATUS=idle" {
			t.Errorf("%s: got %q", addr, got)
		}
		n.Status("checking\nnow")
		if got := recv(t, c); got != "STATUS=checking now" {
			t.Errorf("%s: got %q", addr, got)
		}
	}
	off := New(func(string) string { return "" })
	if off.Enabled() || off.Notify(Ready) != nil {
		t.Error("disabled notifier is not a no-op")
	}
}

func TestWatchdogInterval(t *testing.T) {
	env := map[string]string{"WATCHDOG_USEC": "30000000"}
	get := func(k string) string { return env[k] }
	if d, ok := WatchdogInterval(get); !ok || d != 15*time.Second {
		t.Errorf("= %v, %v", d, ok)
	}
	env["WATCHDOG_PID"] = "1"
	if _, ok := WatchdogInterval(get); ok {
		t.Error("other pid's watchdog accepted")
	}
	if _, ok := WatchdogInterval(func(string) string { return "" }); ok {
		t.Error("unset accepted")
	}
}
