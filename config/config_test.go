package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFormats(t *testing.T) {
	for name, body := range map[string]string{
		"c.json": `{"owner":"o","repo":"r","chunk":2048,"allow":["lib/"],"_owner_comment":"x"}`,
		"c.yaml": "owner: o\nrepo: r\nchunk: 2048\nallow: [lib/]\n",
		"c.yml":  "owner: o\nrepo: r\nchunk: 2048\nallow:\n  - lib/\n",
		"c.toml": "owner = \"o\"\nrepo = \"r\"\nchunk = 2048\nallow = [\"lib/\"]\n",
	} {
		c, err := Load(write(t, name, body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Owner != "o" || c.Repo != "r" || c.Chunk != 2048 || len(c.Allow) != 1 || len(c.Warnings) != 0 {
			t.Errorf("%s: got %+v", name, c)
		}
		if c.TargetDir != filepath.Dir(c.Path) {
			t.Errorf("%s: target_dir %s, want config folder", name, c.TargetDir)
		}
	}
}

func TestDefaultsAndEnvToken(t *testing.T) {
	t.Setenv("OTA_TOKEN", "")
	t.Setenv("GITHUB_TOKEN", "ghp_x")
	c, err := Load(write(t, "c.json", `{"owner":"o","repo":"r","max_tree_files":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Channel != "stable" || c.Branch != "main" || c.StageDir != ".ota_stage" || c.HTTPRetries != 3 || c.MaxTreeFiles != 100000 {
		t.Errorf("defaults: %+v", c)
	}
	if c.Token != "ghp_x" {
		t.Errorf("token from GITHUB_TOKEN: %q", c.Token)
	}
	t.Setenv("OTA_TOKEN", "ota_x")
	c, _ = Load(write(t, "c.json", `{"owner":"o","repo":"r"}`))
	if c.Token != "ota_x" {
		t.Errorf("OTA_TOKEN must win: %q", c.Token)
	}
}

func TestUnknownAndSeedKeys(t *testing.T) {
	c, err := Load(write(t, "c.json", `{"owner":"o","repo":"r","chnnel":"stable","ssid":"wifi",
		"update_scheduling":{"min_update_interval_sec":60,"bogus":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings, "\n")
	for _, want := range []string{`"chnnel"`, `"ssid"`, `"bogus"`} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q lack %s", w, want)
		}
	}
}

func TestInvalidValuesNameTheKey(t *testing.T) {
	_, err := Load(write(t, "c.json", `{"owner":"YOUR_GITHUB_USERNAME","repo":"r","chunk":"big","channel":"beta",
		"commit":"abc","http_retries":0,"allow":["[x"],"stage_dir":"/abs","force":"yes","trusted_keys":["ed25519:nope"]}`))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{`"owner"`, `"chunk": expected a whole number, got a string`, `"channel"`, `"commit"`,
		`"http_retries"`, `allow: invalid glob`, `"stage_dir"`, `"force": expected true or false`, `"trusted_keys"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %s:\n%s", want, msg)
		}
	}
	if _, err := Load(write(t, "c.toml", "owner = \n")); err == nil || !strings.Contains(err.Error(), "invalid TOML") {
		t.Errorf("bad toml: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(write(t, "c.json", `{"owner":"o","repo":"r","target_dir":"nope"}`)); err == nil || !strings.Contains(err.Error(), "target_dir") {
		t.Errorf("missing target dir: %v", err)
	}
}

// Deltas are on by default where signed metadata lists them (issue 11), and
// enable_delta_updates: false still turns them off.
func TestDeltaDefaults(t *testing.T) {
	key := `"trusted_keys":["ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]`
	for _, c := range []struct {
		body string
		want bool
	}{
		{`{"source":"http","url":"http://127.0.0.1/",` + key + `}`, true},
		{`{"source":"dir","path":"repo",` + key + `}`, true},
		{`{"owner":"o","repo":"r",` + key + `}`, true},
		{`{"owner":"o","repo":"r"}`, false},
		{`{"source":"http","url":"http://127.0.0.1/",` + key + `,"enable_delta_updates":false}`, false},
		{`{"owner":"o","repo":"r","enable_delta_updates":true}`, true},
	} {
		cfg, err := Parse(filepath.Join(t.TempDir(), "c.json"), []byte(c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if cfg.EnableDeltaUpdates != c.want {
			t.Errorf("%s: enable_delta_updates %v, want %v", c.body, cfg.EnableDeltaUpdates, c.want)
		}
	}
}
