package gate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/fsx"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBattery(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		b      Battery
		ok     bool
		reason string
	}{
		{"disabled", nil, Battery{}, true, ""},
		{"no battery passes", map[string]string{"AC/type": "Mains\n", "AC/online": "0\n"}, Battery{MinPercent: 50}, true, ""},
		{"enough", map[string]string{"BAT0/type": "Battery\n", "BAT0/capacity": "80\n"}, Battery{MinPercent: 50}, true, ""},
		{"low", map[string]string{"BAT0/type": "Battery\n", "BAT0/capacity": "20\n"}, Battery{MinPercent: 50}, false, "battery at 20%"},
		{"weakest of two", map[string]string{"BAT0/type": "Battery", "BAT0/capacity": "90", "BAT1/type": "Battery", "BAT1/capacity": "30"},
			Battery{MinPercent: 50}, false, "battery at 30%"},
		{"low on mains", map[string]string{"BAT0/type": "Battery", "BAT0/capacity": "20", "AC/type": "Mains", "AC/online": "1"},
			Battery{MinPercent: 50}, true, ""},
		{"command", nil, Battery{MinPercent: 50, Command: "echo 42%"}, false, "battery at 42%"},
		{"command ok", nil, Battery{MinPercent: 40, Command: "echo 42"}, true, ""},
		{"command garbage", nil, Battery{MinPercent: 40, Command: "echo n/a"}, false, "must print"},
		{"command fails", nil, Battery{MinPercent: 40, Command: "exit 3"}, false, "battery level unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			b := tt.b
			b.Dir = dir
			ok, reason := b.Gate()(context.Background())
			if ok != tt.ok || !strings.Contains(reason, tt.reason) {
				t.Errorf("gate = %v, %q; want %v, %q", ok, reason, tt.ok, tt.reason)
			}
		})
	}
}

func TestBatteryCommandTimeoutKillsGroup(t *testing.T) {
	b := Battery{MinPercent: 10, Command: "sleep 30 & sleep 30; echo 99", Timeout: 100 * time.Millisecond}
	start := time.Now()
	ok, reason := b.Gate()(context.Background())
	if ok || !strings.Contains(reason, "unknown") {
		t.Errorf("gate = %v, %q; want refusal", ok, reason)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("timeout took %v", el)
	}
}

func TestInhibitAndFreeSpace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "inhibit")
	if ok, _ := Inhibit(p)(context.Background()); !ok {
		t.Error("inhibit without file refused")
	}
	os.WriteFile(p, []byte("field test until friday\nmore"), 0o644)
	ok, reason := Inhibit(p)(context.Background())
	if ok || !strings.Contains(reason, "field test until friday") || !strings.Contains(reason, "remove the file") {
		t.Errorf("inhibit = %v, %q", ok, reason)
	}
	if ok, r := FreeSpace(dir, 1)(context.Background()); !ok {
		t.Errorf("1 byte free refused: %s", r)
	}
	if ok, r := FreeSpace(dir, 1<<62)(context.Background()); ok || !strings.Contains(r, "free some space") {
		t.Errorf("4 EiB accepted: %v %q", ok, r)
	}
	all, reasons := Check(context.Background(), Inhibit(p), FreeSpace(dir, 1<<62), nil)
	if all || len(reasons) != 2 {
		t.Errorf("Check = %v, %q", all, reasons)
	}
}

func TestCrashLog(t *testing.T) {
	dir, _ := fsx.Abs(t.TempDir())
	l := CrashLog{FS: fsx.OS{}, Path: dir + "/crashes.json"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	g := l.Gate(func() time.Time { return now }, 3)
	for i := range 4 {
		if ok, r := g(context.Background()); !ok {
			t.Fatalf("after %d crashes refused: %s", i, r)
		}
		if err := l.Record(t0.Add(time.Duration(i)*time.Hour), "boom"); err != nil {
			t.Fatal(err)
		}
		now = t0.Add(time.Duration(i) * time.Hour)
	}
	if ok, r := g(context.Background()); ok || !strings.Contains(r, "4 crashes") {
		t.Errorf("after 4 crashes: %v %q", ok, r)
	}
	now = t0.Add(24*time.Hour + time.Minute) // first crash aged out
	if ok, r := g(context.Background()); !ok {
		t.Errorf("after first crash aged out refused: %s", r)
	}
	for i := range 2 * crashLogCap {
		l.Record(t0.Add(time.Duration(i)*time.Second), "")
	}
	cs, _ := l.Load()
	if len(cs) != crashLogCap || !cs[len(cs)-1].Time.Equal(t0.Add(time.Duration(2*crashLogCap-1)*time.Second)) {
		t.Errorf("log not bounded to newest %d: len %d", crashLogCap, len(cs))
	}
	if _, err := os.Stat(l.Path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("tmp file left behind: %v", err)
	}
	os.WriteFile(l.Path, []byte("{garbage"), 0o644)
	if n, err := l.Recent(now); n != 0 || err != nil {
		t.Errorf("corrupt log: %d, %v", n, err)
	}
}
