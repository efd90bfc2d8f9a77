package trial

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/source"
)

func newStore(t *testing.T) Store {
	dir, err := fsx.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return Store{FS: fsx.OS{}, Dir: dir + "/state"}
}

func TestTrialLifecycle(t *testing.T) {
	s := newStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v1 := source.Version{Ref: "v1", Commit: "c1"}
	v2 := source.Version{Ref: "v2", Commit: "c2"}
	if r, err := s.Load(); r != nil || err != nil {
		t.Fatalf("empty Load = %v, %v", r, err)
	}
	if _, err := s.Confirm(); !errors.Is(err, ErrNoTrial) {
		t.Fatalf("Confirm without trial: %v", err)
	}
	if _, err := s.Begin(t0, v2, v1, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r, err := s.Resume()
	if err != nil || r.Attempts != 2 || r.Pending != v2 || r.Previous != v1 {
		t.Fatalf("Resume = %+v, %v", r, err)
	}
	if r.Expired(t0) || !r.Expired(t0.Add(time.Minute)) {
		t.Error("Expired wrong")
	}
	if r, err := s.Confirm(); err != nil || r.Pending != v2 {
		t.Fatalf("Confirm = %+v, %v", r, err)
	}
	if r, _ := s.Load(); r != nil {
		t.Fatal("trial record survives Confirm")
	}

	s.Begin(t0, v2, v1, t0.Add(time.Minute))
	if r, err := s.Fail(t0, "health check failed"); err != nil || r.Previous != v1 {
		t.Fatalf("Fail = %+v, %v", r, err)
	}
	if bad, b := s.IsBad(v2); !bad || b.Reason != "health check failed" {
		t.Errorf("v2 not bad after Fail: %v", b)
	}
	if bad, _ := s.IsBad(source.Version{Ref: "v2", Commit: "c3"}); bad {
		t.Error("a newer commit is treated as bad")
	}
	os.WriteFile(s.path(TrialFile), []byte("{"), 0o644)
	if _, err := s.Load(); err == nil || !strings.Contains(err.Error(), "ota confirm") {
		t.Errorf("corrupt trial: %v", err)
	}
}

func TestBadReleasesBounded(t *testing.T) {
	s := newStore(t)
	t0 := time.Now()
	for i := range MaxBadReleases + 5 {
		if err := s.MarkBad(t0, source.Version{Commit: fmt.Sprint("c", i)}, "x"); err != nil {
			t.Fatal(err)
		}
	}
	s.MarkBad(t0, source.Version{Commit: "c10"}, "again")
	l, _ := s.BadReleases()
	if len(l) != MaxBadReleases || l[len(l)-1].Commit != "c10" || l[0].Commit != "c5" {
		t.Errorf("len %d first %s last %s", len(l), l[0].Commit, l[len(l)-1].Commit)
	}
}

func TestErrorLogAndStatus(t *testing.T) {
	s := newStore(t)
	s.ErrorLimit = 3
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		if err := s.AppendError(t0, fmt.Sprint("e", i)); err != nil {
			t.Fatal(err)
		}
	}
	errs, _ := s.Errors()
	if len(errs) != 3 || errs[2] != "2026-01-01T00:00:00Z e4" {
		t.Errorf("errors = %q", errs)
	}
	s.ErrorLimit = 1000
	for range 25 { // 75 kB offered, 64 KiB kept
		s.AppendError(t0, strings.Repeat("x", 3000))
	}
	b, _ := os.ReadFile(s.path(ErrorFile))
	if len(b) > MaxErrorBytes+4096 || !strings.HasPrefix(string(b), "{\n  \"errors\": [") {
		t.Errorf("error file %d bytes, prefix %q", len(b), b[:20])
	}

	next := t0.Add(time.Hour)
	st, _ := s.RecordCheck(t0, errors.New("boom"), next)
	st, _ = s.RecordCheck(t0.Add(time.Minute), errors.New("boom2"), next)
	if st.ConsecutiveFailures != 2 || st.LastError != "boom2" || !st.LastSuccess.IsZero() {
		t.Errorf("status after failures: %+v", st)
	}
	s.RecordCheck(t0.Add(2*time.Minute), nil, time.Time{})
	st = s.Status()
	if st.ConsecutiveFailures != 0 || !st.LastSuccess.Equal(t0.Add(2*time.Minute)) || !st.NextCheck.Equal(next) || st.LastError != "boom2" {
		t.Errorf("status after success: %+v", st)
	}
}
