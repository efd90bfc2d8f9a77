package engine

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/otafleet/ota/internal/sdnotify"
)

func TestDaemonChecksUpdatesAndStops(t *testing.T) {
	e := newEnv(t, `,"check_interval":"1h","min_update_interval_sec":60`)
	e.src.Publish("v1", trialV1)
	a := e.agent(t)
	// A stale marker from a previous run that crashed.
	os.MkdirAll(a.dirs.State, 0o755)
	os.WriteFile(filepath.Join(a.dirs.State, RunningMarker), nil, 0o644)
	synctest.Test(t, func(t *testing.T) {
		sigs := make(chan os.Signal, 1)
		done := make(chan error, 1)
		go func() {
			done <- a.Daemon(context.Background(), DaemonOptions{Signals: sigs, Notify: sdnotify.Notifier{},
				Getenv: func(string) string { return "" }})
		}()
		synctest.Wait()
		st, err := a.Status(context.Background())
		if err != nil || st.Current == nil || st.Current.Ref != "v1" {
			t.Fatalf("first check did not install v1: %+v %v", st, err)
		}
		if d := st.NextCheck.Sub(st.LastCheck); d < 54*time.Minute || d > 66*time.Minute {
			t.Errorf("next check %v after the last, want 1h ± 10%%", d)
		}
		e.src.Publish("v2", trialV2)
		sigs <- syscall.SIGUSR1
		synctest.Wait()
		if st, _ := a.Status(context.Background()); st.Current.Ref != "v2" {
			t.Errorf("SIGUSR1 did not update to v2: %+v", st.Current)
		}
		sigs <- syscall.SIGTERM
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	if _, err := os.Stat(filepath.Join(a.dirs.State, RunningMarker)); !os.IsNotExist(err) {
		t.Error("running marker left after a clean stop")
	}
	if cs, _ := a.guard().Crashes.Load(); len(cs) != 1 || cs[0].What != "agent did not stop cleanly" {
		t.Errorf("unclean previous stop not recorded: %+v", cs)
	}
}
