package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	c := Checker{Check: `test "$OTA_TO_COMMIT" = new && test "$OTA_FROM_COMMIT" = old && test "$OTA_TARGET_DIR" = "$PWD"`,
		TargetDir: dir, FromCommit: "old", ToCommit: "new", Timeout: time.Second, Interval: 10 * time.Millisecond}
	if n, err := c.Wait(context.Background()); err != nil || n != 1 {
		t.Fatalf("Wait = %d, %v", n, err)
	}
	// Passes on the third attempt.
	c.Check = `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; test $n -ge 3`
	if n, err := c.Wait(context.Background()); err != nil || n != 3 {
		t.Fatalf("flaky Wait = %d, %v", n, err)
	}
	os.Remove(filepath.Join(dir, "count"))
	c.Check = "echo database down; exit 1"
	c.Timeout = 200 * time.Millisecond
	n, err := c.Wait(context.Background())
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "database down") || n < 2 {
		t.Fatalf("failing Wait = %d, %v", n, err)
	}
}

func TestURL(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := Checker{Check: srv.URL + "/healthz", Timeout: 2 * time.Second, Interval: 10 * time.Millisecond}
	if n, err := c.Wait(context.Background()); err != nil || n != 3 {
		t.Fatalf("Wait = %d, %v", n, err)
	}
	srv.Close()
	c.Timeout = 100 * time.Millisecond
	if _, err := c.Wait(context.Background()); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("closed server: %v", err)
	}
	if err := (Checker{}).Once(context.Background()); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("empty check passed: %v", err)
	}
}
