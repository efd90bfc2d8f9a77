// Command otaprof is cmd/ota with a heap profiler, for bench/scale: every
// 20 ms it reads the live heap size and, when it is a new maximum, writes
// the heap profile (as of the last GC) to $OTA_HEAPPROF, so the file ends
// up describing the heap nearest the peak. Not a device binary.
//
//	go build -o otaprof ./bench/scale/otaprof
//	OTA_HEAPPROF=heap.pb.gz ./otaprof --config … update
//	go tool pprof -sample_index=inuse_space -top otaprof heap.pb.gz
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/otafleet/ota/internal/cli"
)

func main() {
	out := os.Getenv("OTA_HEAPPROF")
	done := make(chan struct{})
	if out != "" {
		runtime.MemProfileRate = 4096
		go watch(out, done)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.System())
	stop()
	close(done)
	os.Exit(code)
}

func watch(out string, done chan struct{}) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var max uint64
	write := func() {
		f, err := os.Create(out + ".tmp")
		if err != nil {
			return
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
		os.Rename(out+".tmp", out)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > max+max/20 {
				max = v
				write()
			}
		}
	}
}
