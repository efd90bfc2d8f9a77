package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/otafleet/ota/internal/statedir"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/internal/source/httprepo"
	"github.com/otafleet/ota/internal/source/signedrepo/repotest"
	"github.com/otafleet/ota/repo"
)

// TestUpdateFromSignedDirRepo drives the Updater end to end from a signed
// repository folder configured with the source/path/trusted_keys keys.
func TestUpdateFromSignedDirRepo(t *testing.T) {
	f := repotest.New(t)
	f.Commit("v1", map[string]string{"main.py": "print(1)\n", "lib/a.py": "a\n"})
	f.Publish("v1")
	headV1, _ := os.ReadFile(filepath.Join(f.Repo, repo.HeadPath))
	target := t.TempDir()
	cfgJSON, _ := json.Marshal(map[string]any{
		"source": "dir", "path": f.Repo, "trusted_keys": []string{f.RootKeys()[0].String()}, "target_dir": target,
	})
	cfg, err := config.Parse(filepath.Join(target, "ota_config.json"), cfgJSON)
	if err != nil {
		t.Fatal(err)
	}
	u, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := u.Update(ctx, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "lib/a.py")); string(b) != "a\n" {
		t.Fatalf("lib/a.py = %q", b)
	}
	f.Commit("v2", map[string]string{"lib/a.py": "b\n"})
	f.Publish("v2")
	res, err := u.Update(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "lib/a.py")); string(b) != "b\n" || !res.Updated {
		t.Fatalf("after v2: lib/a.py = %q, %+v", b, res)
	}
	seen, err := repo.FileSeen{Path: filepath.ToSlash(filepath.Join(target, cfg.StateDir, statedir.Seen))}.Load()
	if err != nil || seen.Release != 2 {
		t.Fatalf("seen %+v %v", seen, err)
	}
	// The verified manifest is kept: the base of the next manifest delta.
	if b, err := os.ReadFile(filepath.Join(target, cfg.StateDir, statedir.Manifest)); err != nil || !bytes.HasPrefix(b, []byte("otam1\n")) {
		t.Fatalf("kept manifest: %v", err)
	}
	// A replayed v1 is refused with a verification error (exit code 4),
	// in the head format and in the old one.
	os.WriteFile(filepath.Join(f.Repo, repo.HeadPath), headV1, 0o644)
	_, err = u.Check(ctx, true)
	if !errors.Is(err, repo.ErrRollback) || Classify(err) != KindVerify {
		t.Fatalf("replayed head: %v (kind %d)", err, Classify(err))
	}
	os.Remove(filepath.Join(f.Repo, repo.HeadPath))
	old, _ := os.ReadFile(filepath.Join(f.Repo, repo.MetadataPath(1)))
	os.WriteFile(filepath.Join(f.Repo, repo.LatestPath), old, 0o644)
	_, err = u.Check(ctx, true)
	if !errors.Is(err, repo.ErrRollback) || Classify(err) != KindVerify {
		t.Fatalf("replay: %v (kind %d)", err, Classify(err))
	}
}

func TestSignedRepoConfigErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{"source":"dir"}`: `"path"`,
		`{"source":"http","trusted_keys":["ed25519:AAAA"]}`:  `"url"`,
		`{"source":"http","url":"https://x/"}`:               `"trusted_keys"`,
		`{"source":"dir","path":"r","trusted_keys":["rsa"]}`: `"trusted_keys"`,
	} {
		_, err := config.Parse(filepath.Join(t.TempDir(), "c.json"), []byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want a problem with %s, got %v", body, want, err)
		}
	}
}

func TestHTTPRepoSourceFromConfig(t *testing.T) {
	target := t.TempDir()
	_, key, _ := repo.GenerateKey()
	body, _ := json.Marshal(map[string]any{"source": "http", "url": "http://127.0.0.1:1/ota", "trusted_keys": []string{key.Public().String()}})
	cfg, err := config.Parse(filepath.Join(target, "ota_config.json"), body)
	if err != nil {
		t.Fatal(err)
	}
	u, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.src.(*httprepo.Source); !ok {
		t.Fatalf("source %T", u.src)
	}
}
