// Command tcpcount is a counting TCP relay for bench/tree.sh: it measures the
// bytes an update really moves over a TCP connection (payload in both
// directions, no TCP/IP headers), whatever the protocol on top.
//
//	tcpcount freeport              print a free 127.0.0.1 port and exit
//	tcpcount relay TARGET LOG      listen on 127.0.0.1:0, print the port, relay
//	                               every connection to TARGET (host:port)
//
// For each connection the relay appends to LOG "open N" when it is accepted
// and "close N UP DOWN" when both directions are done (UP: client to server,
// DOWN: server to client). The relay runs until it is killed.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tcpcount:", err)
	os.Exit(1)
}

func main() {
	switch {
	case len(os.Args) == 2 && os.Args[1] == "freeport":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	case len(os.Args) == 4 && os.Args[1] == "relay":
		relay(os.Args[2], os.Args[3])
	default:
		fmt.Fprintln(os.Stderr, "usage: tcpcount freeport | tcpcount relay TARGET LOG")
		os.Exit(2)
	}
}

func relay(target, logPath string) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fail(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	var mu sync.Mutex
	logLine := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(logf, format+"\n", a...)
		logf.Sync()
	}
	for n := 1; ; n++ {
		c, err := l.Accept()
		if err != nil {
			fail(err)
		}
		logLine("open %d", n)
		go func(n int, c net.Conn) {
			defer c.Close()
			s, err := net.Dial("tcp", target)
			if err != nil {
				logLine("close %d 0 0 dial-error", n)
				return
			}
			defer s.Close()
			var up, down int64
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { // client -> server
				defer wg.Done()
				up, _ = io.Copy(s, c)
				s.(*net.TCPConn).CloseWrite()
			}()
			go func() { // server -> client
				defer wg.Done()
				down, _ = io.Copy(c, s)
				c.(*net.TCPConn).CloseWrite()
			}()
			wg.Wait()
			logLine("close %d %d %d", n, up, down)
		}(n, c)
	}
}
