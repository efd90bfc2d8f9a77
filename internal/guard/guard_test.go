package guard

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/gate"
	"github.com/otafleet/ota/internal/health"
	"github.com/otafleet/ota/internal/hooks"
	"github.com/otafleet/ota/internal/metrics"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/trial"
)

var (
	v1 = source.Version{Ref: "v1", Commit: "1111111111"}
	v2 = source.Version{Ref: "v2", Commit: "2222222222"}
)

type fixture struct {
	g        Guard
	dir      string
	reverted []source.Version
	app      string
}

func newFixture(t *testing.T, healthCmd string) *fixture {
	dir, _ := fsx.Abs(t.TempDir())
	f := &fixture{dir: dir, app: dir + "/app"}
	os.MkdirAll(f.app, 0o755)
	f.g = Guard{
		Hooks: hooks.Hooks{
			PostUpdate: `echo "post $OTA_FROM_REF>$OTA_TO_REF" >> ../hooks.log`,
			OnRollback: `echo "rollback $OTA_FROM_REF>$OTA_TO_REF" >> ../hooks.log`,
			Timeout:    5 * time.Second,
		},
		Health:  health.Checker{Check: healthCmd, Timeout: 300 * time.Millisecond, Interval: 20 * time.Millisecond},
		Store:   trial.Store{FS: fsx.OS{}, Dir: dir + "/state"},
		Crashes: gate.CrashLog{FS: fsx.OS{}, Path: dir + "/state/crashes.json"},
		Metrics: &metrics.Exporter{FS: fsx.OS{}, StatePath: dir + "/state/metrics.json", File: dir + "/ota.prom"},
		Revert: func(ctx context.Context, to source.Version) error {
			f.reverted = append(f.reverted, to)
			return nil
		},
	}
	return f
}

func (f *fixture) hookLog() string {
	b, _ := os.ReadFile(f.dir + "/hooks.log")
	return string(b)
}

func TestHealthyConfirms(t *testing.T) {
	f := newFixture(t, `test "$OTA_TO_COMMIT" = 2222222222`)
	tr := Transition{From: v1, To: v2, TargetDir: f.app}
	ctx := context.Background()
	if err := f.g.Before(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.g.Store.Load(); r == nil || r.Pending != v2 {
		t.Fatalf("no trial record before activation: %+v", r)
	}
	if err := f.g.After(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.g.Store.Load(); r != nil || len(f.reverted) != 0 {
		t.Errorf("trial %+v reverted %v", r, f.reverted)
	}
	if got := f.hookLog(); got != "post v1>v2\n" {
		t.Errorf("hooks: %q", got)
	}
	if m := f.g.Metrics.Load(); m.Updates != 1 || m.Commit != v2.Commit || m.TrialPending {
		t.Errorf("metrics %+v", m)
	}
}

func TestUnhealthyReverts(t *testing.T) {
	f := newFixture(t, "echo app not responding; exit 1")
	tr := Transition{From: v1, To: v2, TargetDir: f.app}
	ctx := context.Background()
	f.g.Before(ctx, tr)
	err := f.g.After(ctx, tr)
	if !errors.Is(err, ErrReverted) || !errors.Is(err, health.ErrUnhealthy) || !strings.Contains(err.Error(), "app not responding") {
		t.Fatalf("err = %v", err)
	}
	if len(f.reverted) != 1 || f.reverted[0] != v1 {
		t.Errorf("reverted to %v", f.reverted)
	}
	if bad, _ := f.g.Store.IsBad(v2); !bad {
		t.Error("failed release not marked bad")
	}
	if got := f.hookLog(); got != "post v1>v2\nrollback v2>v1\n" {
		t.Errorf("hooks: %q", got)
	}
	if n, _ := f.g.Crashes.Recent(time.Now()); n != 1 {
		t.Errorf("crashes %d", n)
	}
	if errs, _ := f.g.Store.Errors(); len(errs) != 1 || !strings.Contains(errs[0], "reverted to v1") {
		t.Errorf("errors %q", errs)
	}
	if m := f.g.Metrics.Load(); m.Rollbacks != 1 || m.Commit != v1.Commit {
		t.Errorf("metrics %+v", m)
	}
}

func TestPreUpdateRefuses(t *testing.T) {
	f := newFixture(t, "")
	f.g.Hooks.PreUpdate = "echo busy; exit 1"
	err := f.g.Before(context.Background(), Transition{From: v1, To: v2, TargetDir: f.app})
	if !errors.Is(err, ErrPreUpdate) {
		t.Fatalf("err = %v", err)
	}
	if r, _ := f.g.Store.Load(); r != nil {
		t.Error("trial recorded although pre_update refused")
	}
}

func TestRecover(t *testing.T) {
	ctx := context.Background()
	t.Run("crash loop", func(t *testing.T) {
		f := newFixture(t, "true")
		f.g.Before(ctx, Transition{From: v1, To: v2})
		for range DefaultMaxAttempts - 1 {
			f.g.Store.Resume()
		}
		pending, err := f.g.Recover(ctx, f.app, &v2)
		if !pending || !errors.Is(err, ErrReverted) || !strings.Contains(err.Error(), "crash loop") {
			t.Fatalf("Recover = %v, %v", pending, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		f := newFixture(t, "true")
		f.g.Before(ctx, Transition{From: v1, To: v2})
		f.g.Now = func() time.Time { return time.Now().Add(time.Hour) }
		if _, err := f.g.Recover(ctx, f.app, &v2); !errors.Is(err, ErrReverted) || !strings.Contains(err.Error(), "deadline") {
			t.Fatalf("Recover = %v", err)
		}
	})
	t.Run("resume and confirm", func(t *testing.T) {
		f := newFixture(t, "true")
		f.g.Before(ctx, Transition{From: v1, To: v2})
		if pending, err := f.g.Recover(ctx, f.app, &v2); !pending || err != nil {
			t.Fatalf("Recover = %v, %v", pending, err)
		}
		if r, _ := f.g.Store.Load(); r != nil {
			t.Error("not confirmed")
		}
		if pending, err := f.g.Recover(ctx, f.app, &v2); pending || err != nil {
			t.Errorf("second Recover = %v, %v", pending, err)
		}
	})
	t.Run("manual confirm", func(t *testing.T) {
		f := newFixture(t, "")
		if _, err := f.g.Confirm(); !errors.Is(err, trial.ErrNoTrial) {
			t.Errorf("confirm without trial: %v", err)
		}
		f.g.Before(ctx, Transition{From: v1, To: v2})
		if r, err := f.g.Confirm(); err != nil || r.Pending != v2 {
			t.Errorf("Confirm = %+v, %v", r, err)
		}
	})
}

func TestManualConfirmAndExpiry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "true")
	f.g.ConfirmTimeout = time.Minute
	tr := Transition{From: v1, To: v2, TargetDir: f.app}
	f.g.Before(ctx, tr)
	if err := f.g.After(ctx, tr); err != nil {
		t.Fatal(err)
	}
	r, _ := f.g.Store.Load()
	if r == nil || len(f.reverted) != 0 {
		t.Fatalf("release not left on trial: %+v", r)
	}
	if rev, err := f.g.ExpireIfDue(ctx, f.app); rev || err != nil {
		t.Errorf("expired early: %v %v", rev, err)
	}
	f.g.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if rev, err := f.g.ExpireIfDue(ctx, f.app); !rev || !errors.Is(err, ErrReverted) || !strings.Contains(err.Error(), "ota confirm") {
		t.Errorf("ExpireIfDue = %v, %v", rev, err)
	}
	if len(f.reverted) != 1 {
		t.Errorf("not reverted: %v", f.reverted)
	}
}

func TestRecoverNeverActivated(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "false")
	f.g.Before(ctx, Transition{From: v1, To: v2})
	// The journal rolled the activation back: version.json still says v1.
	pending, err := f.g.Recover(ctx, f.app, &v1)
	if pending || err != nil || len(f.reverted) != 0 {
		t.Fatalf("Recover = %v, %v, reverted %v", pending, err, f.reverted)
	}
	if bad, _ := f.g.Store.IsBad(v2); bad {
		t.Error("release blamed although never activated")
	}
	if r, _ := f.g.Store.Load(); r != nil {
		t.Error("trial record kept")
	}
}
