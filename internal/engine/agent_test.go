package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/testutil/memsource"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

var (
	trialV1 = memsource.Tree{"app.sh": {Data: "echo v1\n"}, "lib/a.txt": {Data: "a1\n"}, "old.txt": {Data: "old\n"}}
	trialV2 = memsource.Tree{"app.sh": {Data: "echo v2\n"}, "lib/a.txt": {Data: "a2\n"}, "lib/new/b.txt": {Data: "b\n"}}
)

var owned = []string{".ota", ".ota_stage", ".ota_backup", "version.json", "ota_error.json"}

type env struct {
	dir string
	src *memsource.Source
	cfg config.Config
}

func newEnv(t *testing.T, policyJSON string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, src: memsource.New()}
	cfgPath := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(cfgPath, []byte(`{"owner":"o","repo":"r","target_dir":"`+dir+`","device_id":"dev-1"`+policyJSON+`}`), 0o644)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	return e
}

func (e *env) agent(t *testing.T) *Engine {
	t.Helper()
	a, err := New(e.cfg, Options{Source: e.src, PowerSupplyDir: filepath.Join(e.dir, "no-power-supply")})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHeldBackByRollout(t *testing.T) {
	e := newEnv(t, `,"rollout_percent":0`)
	e.src.Publish("v1", trialV1)
	ctx := context.Background()
	rep, err := e.agent(t).Update(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Updated || len(rep.HeldBack) != 1 || !strings.Contains(rep.HeldBack[0], "staged rollout") {
		t.Fatalf("report %+v", rep)
	}
	// --now ignores the rollout.
	if rep, err := e.agent(t).Update(ctx, true); err != nil || !rep.Updated {
		t.Fatalf("--now: %+v %v", rep, err)
	}
	st, _ := e.agent(t).Status(ctx)
	if st.LastCheck.IsZero() || st.Trial != nil {
		t.Errorf("status %+v", st)
	}
}

func TestHealthyUpdateConfirmed(t *testing.T) {
	e := newEnv(t, `,"health_check":"test -f app.sh && test -n \"$OTA_TO_COMMIT\"","health_timeout_sec":2`)
	e.src.Publish("v1", trialV1)
	ctx := context.Background()
	if rep, err := e.agent(t).Update(ctx, false); err != nil || !rep.Updated || rep.Reverted {
		t.Fatalf("v1: %+v %v", rep, err)
	}
	e.src.Publish("v2", trialV2)
	a := e.agent(t)
	rep, err := a.Update(ctx, false)
	if err != nil || !rep.Updated || rep.Reverted || rep.OnTrial {
		t.Fatalf("v2: %+v %v", rep, err)
	}
	st, _ := a.Status(ctx)
	if st.Trial != nil || len(st.BadReleases) != 0 || st.Current.Ref != "v2" {
		t.Errorf("status %+v", st)
	}
	if m := a.metrics().Load(); m.Updates != 2 || m.Ref != "v2" {
		t.Errorf("metrics %+v", m)
	}
}

func TestFailingHealthCheckReverts(t *testing.T) {
	e := newEnv(t, `,"health_check":"grep -q v1 app.sh","health_timeout_sec":1,"health_interval_sec":1`)
	v1 := e.src.Publish("v1", trialV1)
	ctx := context.Background()
	if rep, err := e.agent(t).Update(ctx, false); err != nil || !rep.Updated {
		t.Fatalf("install v1: %+v %v", rep, err)
	}
	before, _ := treesnap.Take(e.dir, owned...)
	v2 := e.src.Publish("v2", trialV2)
	a := e.agent(t)
	rep, err := a.Update(ctx, false)
	if !errors.Is(err, ErrRejected) || Classify(err) != KindRejected || rep == nil || !rep.Reverted {
		t.Fatalf("update = %+v, %v", rep, err)
	}
	after, _ := treesnap.Take(e.dir, owned...)
	if d := treesnap.Diff(before, after); len(d) > 0 {
		t.Errorf("tree after revert differs from v1: %v", d)
	}
	st, _ := a.Status(ctx)
	if st.Current == nil || st.Current.Commit != v1.Commit || len(st.BadReleases) != 1 || st.BadReleases[0].Commit != v2.Commit {
		t.Errorf("status %+v", st)
	}
	// The bad release is held back, not retried.
	cr, err := a.Check(ctx, false)
	if err != nil || cr.Eligible || len(cr.HeldBack) == 0 || !strings.Contains(cr.HeldBack[0], "not retried") {
		t.Errorf("check after revert: %+v %v", cr, err)
	}
	_ = fsx.OS{}
}

// TestRollbackDuringTrial: with confirm_timeout_sec set and v2 on trial,
// `ota rollback` rejects the trial (v1 back, v2 not retried); when the
// deadline later passes nothing is reverted again. It used to step back
// once more at the deadline, reinstalling the unconfirmed v2 ("rollback
// restored v2, expected v1").
func TestRollbackDuringTrial(t *testing.T) {
	e := newEnv(t, `,"confirm_timeout_sec":60`)
	v1 := e.src.Publish("v1", trialV1)
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	a := e.agent(t)
	a.now = clock
	if rep, err := a.Update(ctx, false); err != nil || !rep.Updated {
		t.Fatalf("install v1: %+v %v", rep, err)
	}
	if _, err := a.Confirm(); err != nil {
		t.Fatal(err)
	}
	v1tree, _ := treesnap.Take(e.dir, owned...)
	v2 := e.src.Publish("v2", trialV2)
	if rep, err := a.Update(ctx, false); err != nil || !rep.OnTrial {
		t.Fatalf("v2 on trial: %+v %v", rep, err)
	}
	res, err := a.Rollback(ctx)
	if err != nil || res.Current.Commit != v1.Commit {
		t.Fatalf("rollback during the trial: %+v %v", res, err)
	}
	st, _ := a.Status(ctx)
	if st.Trial != nil || len(st.BadReleases) != 1 || st.BadReleases[0].Commit != v2.Commit || st.Current.Commit != v1.Commit {
		t.Fatalf("status after rollback: %+v", st)
	}
	now = now.Add(2 * time.Minute) // past the trial's deadline
	if rev, err := a.guard().ExpireIfDue(ctx, e.dir); rev || err != nil {
		t.Fatalf("the deadline reverted again: %v %v", rev, err)
	}
	if got, _ := treesnap.Take(e.dir, owned...); treesnap.Diff(v1tree, got) != nil {
		t.Fatalf("tree is not v1: %v", treesnap.Diff(v1tree, got))
	}
	// Reverting to the version already installed is a no-op, never a
	// second step back.
	if _, err := a.Revert(ctx, v1); err != nil {
		t.Fatalf("revert to the installed version: %v", err)
	}
	if st, _ := a.Status(ctx); st.Current.Commit != v1.Commit {
		t.Fatalf("revert stepped back again: %+v", st.Current)
	}
}
