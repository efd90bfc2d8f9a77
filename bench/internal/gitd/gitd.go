// Package gitd runs `git daemon` on 127.0.0.1 behind a TCP relay that counts
// the bytes of each direction, so benchmarks can put git's wire cost beside
// ota's (bench/agent, bench/scale).
package gitd

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Daemon is git daemon serving every repository below a folder.
type Daemon struct {
	URL string // git://127.0.0.1:PORT (the relay); repositories are URL+"/name.git"

	cmd      *exec.Cmd
	ln       net.Listener
	mu       sync.Mutex
	up, down int64
}

// Bytes moved by git commands through the relay.
type Bytes struct{ Up, Down int64 }

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitPort waits (about 5 s) until something listens on 127.0.0.1:port.
func WaitPort(port int) error {
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		if i > 100 {
			return fmt.Errorf("nothing listens on 127.0.0.1:%d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Start serves base with git daemon (HOME=home) and starts the relay.
func Start(base, home string) (*Daemon, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("git", "daemon", "--export-all", "--base-path="+base, "--listen=127.0.0.1",
		fmt.Sprintf("--port=%d", port), "--reuseaddr", base)
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Stop ends git daemon's children too
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := WaitPort(port); err != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		return nil, fmt.Errorf("git daemon did not start: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &Daemon{cmd: cmd, ln: ln, URL: "git://" + ln.Addr().String()}
	target := fmt.Sprintf("127.0.0.1:%d", port)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go d.relay(c, target)
		}
	}()
	return d, nil
}

func (d *Daemon) relay(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, _ := io.Copy(s, c)
		s.(*net.TCPConn).CloseWrite()
		d.add(n, 0)
	}()
	n, _ := io.Copy(c, s)
	c.(*net.TCPConn).CloseWrite()
	wg.Wait()
	d.add(0, n)
}

func (d *Daemon) add(up, down int64) {
	d.mu.Lock()
	d.up += up
	d.down += down
	d.mu.Unlock()
}

// Count runs f (git commands through the relay) and returns the bytes they
// moved.
func (d *Daemon) Count(f func()) Bytes {
	d.mu.Lock()
	up, down := d.up, d.down
	d.mu.Unlock()
	f()
	time.Sleep(200 * time.Millisecond) // the relay goroutines finish after git exits
	d.mu.Lock()
	defer d.mu.Unlock()
	return Bytes{d.up - up, d.down - down}
}

// Stop ends the relay and git daemon with its children.
func (d *Daemon) Stop() {
	d.ln.Close()
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	d.cmd.Wait()
}
