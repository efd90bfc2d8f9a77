package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/otafleet/ota/internal/testutil/gitfixture"
	"github.com/otafleet/ota/internal/testutil/treesnap"
)

// The attack suite (issue 13): a hostile repository, a hostile server and a
// local user who can write inside target_dir, each against the real binary
// on the real filesystem. Every case checks that nothing outside target_dir
// (and nothing of ota's own) changed.

func with(files map[string]gitfixture.File, extra map[string]gitfixture.File) map[string]gitfixture.File {
	out := map[string]gitfixture.File{}
	for k, v := range files {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// outsideDir makes a folder beside target_dir holding files, and returns
// it with a function that fails the test if anything in it changed.
func outsideDir(t *testing.T, files map[string]string) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	before, err := treesnap.Take(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, func() {
		t.Helper()
		after, err := treesnap.Take(dir)
		if err != nil {
			t.Fatal(err)
		}
		if d := treesnap.Diff(before, after); d != nil {
			t.Fatalf("ota changed a folder outside target_dir: %v", d)
		}
	}
}

func mustFail(t *testing.T, r result, code int, msg string) {
	t.Helper()
	if r.code != code || !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(msg)) {
		t.Fatalf("want exit %d mentioning %q: %v", code, msg, r)
	}
}

// TestAttackRepositoryReplacesConfig: a repository that commits the
// device's config file (any case, at the default or a relative path) or
// version.json never has it installed or deleted.
func TestAttackRepositoryReplacesConfig(t *testing.T) {
	evil := `{"owner": "evil", "repo": "x", "api_url": "http://127.0.0.1:1", "post_update": "touch pwned"}`
	hostile := func(n int) map[string]gitfixture.File {
		return with(filesV1, map[string]gitfixture.File{
			"main.py":         {Content: "print(" + strconv.Itoa(n) + ")\n"},
			"ota_config.json": {Content: evil},
			"OTA_CONFIG.JSON": {Content: evil},
			"Version.JSON":    {Content: `{"ref": "forged", "commit": "forged"}`},
			"conf/ota.json":   {Content: evil},
		})
	}
	e := newEnv(t)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	own, _ := os.ReadFile(cfg)
	check := func(t *testing.T, path string, want []byte) {
		t.Helper()
		if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
			t.Fatalf("the device's config %s was replaced: %s", path, got)
		}
		if _, err := os.Lstat(filepath.Join(e.target, "OTA_CONFIG.JSON")); err == nil && path == cfg {
			t.Fatal("OTA_CONFIG.JSON was installed")
		}
		if _, err := os.Lstat(filepath.Join(e.target, "pwned")); err == nil {
			t.Fatal("the repository's hook ran")
		}
		if v, _ := os.ReadFile(filepath.Join(e.target, "version.json")); strings.Contains(string(v), "forged") {
			t.Fatalf("version.json forged: %s", v)
		}
	}
	for i, run := range []struct {
		name string
		args []string
		env  []string
	}{
		{"default ./ota_config.json", []string{"update"}, nil},
		{"relative --config", []string{"--config", "ota_config.json", "update"}, nil},
		{"relative OTA_CONFIG", []string{"update"}, []string{"OTA_CONFIG=./ota_config.json"}},
	} {
		t.Run(run.name, func(t *testing.T) {
			e.repo.Commit("hostile", hostile(i))
			if r := otaIn(t, e.target, append([]string{"OTA_CONFIG="}, run.env...), run.args...); r.code != 0 || !strings.Contains(r.stderr, "reserved") {
				t.Fatalf("update: %v", r)
			}
			check(t, cfg, own)
			if b, _ := os.ReadFile(filepath.Join(e.target, "main.py")); string(b) != "print("+strconv.Itoa(i)+")\n" {
				t.Fatalf("the rest of the tree was not installed: %q", b)
			}
		})
	}
	t.Run("config in a folder under delete_patterns", func(t *testing.T) {
		os.MkdirAll(filepath.Join(e.target, "conf"), 0o755)
		sub := writeConfig(t, filepath.Join(e.target, "conf"), "ota.json", merge(e.cfg, map[string]any{
			"channel": "developer", "target_dir": "..", "delete_patterns": []string{"conf"},
		}))
		subOwn, _ := os.ReadFile(sub)
		e.repo.Commit("hostile", hostile(7))
		if r := otaIn(t, e.target, []string{"OTA_CONFIG="}, "--config", "conf/ota.json", "update"); r.code != 0 {
			t.Fatalf("update: %v", r)
		}
		check(t, sub, subOwn)
		// The next version drops conf/ entirely: the config still stays.
		e.repo.Commit("clean", filesV2)
		if r := otaIn(t, e.target, []string{"OTA_CONFIG="}, "--config", "conf/ota.json", "update"); r.code != 0 {
			t.Fatalf("update: %v", r)
		}
		check(t, sub, subOwn)
	})
}

// TestAttackLinksInsideTarget: someone who can write inside target_dir
// plants links for ota (often root) to follow. Each attack fails with a
// clear error, or is harmless, and nothing outside target_dir changes.
func TestAttackLinksInsideTarget(t *testing.T) {
	installed := func(t *testing.T, extra map[string]any) (*env, string) {
		e := newEnv(t)
		e.repo.Commit("v1", filesV1)
		cfg := e.config(t, merge(map[string]any{"channel": "developer"}, extra))
		if r := ota(t, cfg, nil, "update"); r.code != 0 {
			t.Fatal(r)
		}
		return e, cfg
	}
	t.Run("folder replaced by a link between updates", func(t *testing.T) {
		e, cfg := installed(t, nil)
		out, unchanged := outsideDir(t, map[string]string{"util.py": "outside util", "old.py": "outside old"})
		os.Rename(filepath.Join(e.target, "lib"), filepath.Join(e.target, "lib.moved"))
		os.Symlink(out, filepath.Join(e.target, "lib"))
		// v2 drops lib/: through the link, its deletes would remove the
		// files of the same names outside (and keep them as rollback
		// objects). Below a link nothing is ota's: the update installs v2
		// and leaves the link alone.
		v2 := with(filesV1, nil)
		delete(v2, "lib/old.py")
		delete(v2, "lib/util.py")
		e.repo.Commit("v2", v2)
		if r := ota(t, cfg, nil, "update"); r.code != 0 {
			t.Fatal(r)
		}
		unchanged()
		// A v3 that wants lib/ as a folder again is refused: the link is
		// not ota's to replace.
		e.repo.Commit("v3", filesV2)
		mustFail(t, ota(t, cfg, nil, "update"), 5, "symbolic link")
		unchanged()
		filepath.WalkDir(filepath.Join(e.target, ".ota"), func(p string, d os.DirEntry, err error) error {
			if b, _ := os.ReadFile(p); err == nil && !d.IsDir() && strings.HasPrefix(string(b), "outside") {
				t.Errorf("outside content copied into ota's state: %s", p)
			}
			return nil
		})
	})
	t.Run("folder swapped for a link before the apply", func(t *testing.T) {
		out, unchanged := outsideDir(t, map[string]string{"util.py": "outside util", "old.py": "outside old"})
		e, _ := installed(t, nil)
		// The hook runs after the downloads, right before the apply: the
		// moment an attacker racing the update would pick.
		cfg := e.config(t, map[string]any{"channel": "developer", "pre_update": "mv lib lib.moved && ln -s " + out + " lib"})
		e.repo.Commit("v2", filesV2)
		r := ota(t, cfg, nil, "update")
		mustFail(t, r, 5, "symbolic link")
		unchanged()
	})
	t.Run("planted stage link", func(t *testing.T) {
		e, cfg := installed(t, nil)
		out, unchanged := outsideDir(t, map[string]string{"keep": "keep"})
		os.RemoveAll(filepath.Join(e.target, ".ota_stage"))
		os.Symlink(out, filepath.Join(e.target, ".ota_stage"))
		e.repo.Commit("v2", filesV2)
		mustFail(t, ota(t, cfg, nil, "update"), 5, "symbolic link")
		unchanged()
	})
	t.Run("delete_patterns under a linked folder", func(t *testing.T) {
		e, cfg := installed(t, map[string]any{"delete_patterns": []string{"data/cache"}})
		out, unchanged := outsideDir(t, map[string]string{"cache/x.bin": "keep", "cache/y/z": "keep"})
		os.Symlink(out, filepath.Join(e.target, "data"))
		e.repo.Commit("v2", filesV2)
		if r := ota(t, cfg, nil, "update"); r.code != 0 {
			t.Fatal(r)
		}
		unchanged()
	})
	t.Run("releases link", func(t *testing.T) {
		e, cfg := installed(t, map[string]any{"layout": "releases", "keep_releases": 2})
		e.repo.Commit("v2", filesV2)
		if r := ota(t, cfg, nil, "update"); r.code != 0 {
			t.Fatal(r)
		}
		rels := filepath.Join(e.target, "releases")
		out, _ := outsideDir(t, map[string]string{"unrelated/a": "a", "other/b": "b"})
		if err := exec.Command("cp", "-a", rels+"/.", out).Run(); err != nil {
			t.Fatal(err)
		}
		before, _ := treesnap.Take(out)
		os.Rename(rels, rels+".moved")
		os.Symlink(out, rels)
		e.repo.Commit("v3", with(filesV2, map[string]gitfixture.File{"main.py": {Content: "v3"}}))
		mustFail(t, ota(t, cfg, nil, "update"), 5, "symbolic link")
		after, _ := treesnap.Take(out)
		if d := treesnap.Diff(before, after); d != nil {
			t.Fatalf("ota changed a folder outside target_dir: %v", d)
		}
	})
	t.Run("planted temp-file links", func(t *testing.T) {
		e, cfg := installed(t, nil)
		out, unchanged := outsideDir(t, map[string]string{"version": "secret", "errors": "secret"})
		os.Symlink(filepath.Join(out, "version"), filepath.Join(e.target, "version.json.tmp"))
		os.Symlink(filepath.Join(out, "errors"), filepath.Join(e.target, "ota_error.json.tmp"))
		c2 := e.repo.Commit("v2", filesV2)
		if r := ota(t, cfg, nil, "update"); r.code != 0 {
			t.Fatal(r)
		}
		if v, _ := os.ReadFile(filepath.Join(e.target, "version.json")); !strings.Contains(string(v), c2) {
			t.Fatalf("version.json: %s", v)
		}
		os.Symlink(filepath.Join(out, "errors"), filepath.Join(e.target, "ota_error.json.tmp"))
		e.repo.Commit("v3", filesV1)
		cfg = e.config(t, map[string]any{"channel": "developer", "pre_update": "exit 1"})
		if r := ota(t, cfg, nil, "update"); r.code == 0 {
			t.Fatal(r) // refused: the refusal is written to ota_error.json
		}
		if b, err := os.ReadFile(filepath.Join(e.target, "ota_error.json")); err != nil || !strings.Contains(string(b), "aborted") {
			t.Fatalf("ota_error.json: %s %v", b, err)
		}
		unchanged()
	})
	t.Run("crafted journal", func(t *testing.T) {
		e, cfg := installed(t, nil)
		victim := filepath.Join(filepath.Dir(e.target), "victim")
		os.WriteFile(victim, []byte("keep"), 0o644)
		t.Cleanup(func() { os.Remove(victim) })
		journal := `{"format":1,"from":null,"to":{"ref":"x","commit":"y"},"ops":[{"kind":"delete","path":"../victim","had_old":true}],"index":{"files":{}},"prev":{"files":{}}}`
		os.WriteFile(filepath.Join(e.target, ".ota", "journal.json"), []byte(journal), 0o644)
		r := ota(t, cfg, nil, "recover")
		if r.code == 0 || !strings.Contains(r.stderr, "corrupt") {
			t.Fatalf("recover of a crafted journal: %v", r)
		}
		if b, err := os.ReadFile(victim); err != nil || string(b) != "keep" {
			t.Fatalf("the journal reached outside target_dir: %q %v", b, err)
		}
	})
}

// TestAttackChainedSymlinks: two links that each look inside the tree but
// lead outside together are refused before anything is installed.
func TestAttackChainedSymlinks(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", filesV1)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	before := rawSnap(t, e.target)
	e.repo.Commit("chain", with(filesV1, map[string]gitfixture.File{
		"a/real.txt": {Content: "a"},
		"x/y/s":      {Symlink: "../../a"},
		"x/y/t":      {Symlink: "s/../../outside"},
	}))
	mustFail(t, ota(t, cfg, nil, "update"), 4, "resolves outside the tree")
	if d := treesnap.Diff(before, rawSnap(t, e.target)); d != nil {
		t.Fatalf("the folder changed: %v", d)
	}
}

// TestLinkBecomesFolder: v1 has conf -> sub and sub/app.conf; v2 makes conf
// a real folder with the same app.conf. The file must be installed (it
// used to be judged unchanged through the old link and never installed).
func TestLinkBecomesFolder(t *testing.T) {
	e := newEnv(t)
	v1 := map[string]gitfixture.File{"sub/app.conf": {Content: "setting=1\n"}, "conf": {Symlink: "sub"}}
	v2 := map[string]gitfixture.File{"sub/app.conf": {Content: "setting=1\n"}, "conf/app.conf": {Content: "setting=1\n"}}
	e.repo.Commit("v1", v1)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	e.repo.Commit("v2", v2)
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	if d := treesnap.Diff(expect(v2), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
	var c checkJSON
	okJSON(t, cfg, nil, &c, "check")
	if c.UpdateAvailable {
		t.Fatalf("after the update, check still finds work: %+v", c)
	}
}

// TestPathAndItsPartSibling: a repository holding both x and x.part
// installs with parallel downloads (temporaries live apart from the stage).
func TestPathAndItsPartSibling(t *testing.T) {
	e := newEnv(t)
	files := map[string]gitfixture.File{}
	for i := range 8 {
		n := "f" + strconv.Itoa(i)
		files[n] = gitfixture.File{Content: strings.Repeat(n, 4000)}
		files[n+".part"] = gitfixture.File{Content: strings.Repeat("part"+n, 3000)}
	}
	e.repo.Commit("v1", files)
	cfg := e.config(t, map[string]any{"channel": "developer", "parallel_downloads": 8})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	if d := treesnap.Diff(expect(files), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
}

// TestLockIsPrivateAndNamesItsHolder: the lock file is 0600 (no other user
// can open it to block updates), and a held lock is reported with the
// holder's pid.
func TestLockIsPrivateAndNamesItsHolder(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", filesV1)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	lock := filepath.Join(e.target, ".ota", "lock")
	fi, err := os.Stat(lock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v %v", fi, err)
	}
	f, err := os.Open(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	mustFail(t, ota(t, cfg, nil, "update"), 7, "pid "+strconv.Itoa(os.Getpid()))
}

// TestHooksDoNotSeeTheToken: OTA_TOKEN and GITHUB_TOKEN reach hooks and
// health checks only with pass_token_to_hooks.
func TestHooksDoNotSeeTheToken(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", filesV1)
	envFile := filepath.Join(t.TempDir(), "env")
	hook := "env > " + envFile
	cfg := e.config(t, map[string]any{"channel": "developer", "post_update": hook, "health_check": hook + ".health"})
	secret := []string{"OTA_TOKEN=tok-s3cr3t", "GITHUB_TOKEN=gh-s3cr3t"}
	if r := ota(t, cfg, secret, "update"); r.code != 0 {
		t.Fatal(r)
	}
	for _, f := range []string{envFile, envFile + ".health"} {
		b, err := os.ReadFile(f)
		if err != nil || strings.Contains(string(b), "s3cr3t") || !strings.Contains(string(b), "OTA_TO_COMMIT=") {
			t.Fatalf("%s: %v\n%s", f, err, b)
		}
	}
	cfg = e.config(t, map[string]any{"channel": "developer", "post_update": hook, "pass_token_to_hooks": true})
	e.repo.Commit("v2", filesV2)
	if r := ota(t, cfg, secret, "update"); r.code != 0 {
		t.Fatal(r)
	}
	if b, _ := os.ReadFile(envFile); !strings.Contains(string(b), "OTA_TOKEN=tok-s3cr3t") {
		t.Fatalf("pass_token_to_hooks: %s", b)
	}
}

// TestPreUpdateRefusal: a pre_update hook that says no gets its own exit
// code (8) and message, and nothing changes.
func TestPreUpdateRefusal(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", filesV1)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	cfg = e.config(t, map[string]any{"channel": "developer", "pre_update": "echo 'battery low'; exit 3"})
	e.repo.Commit("v2", filesV2)
	before := rawSnap(t, e.target)
	r := ota(t, cfg, nil, "update")
	mustFail(t, r, 8, "pre_update")
	if !strings.Contains(r.stderr, "battery low") || strings.Contains(r.stderr, "bug in ota") {
		t.Fatalf("refusal message: %v", r)
	}
	if d := treesnap.Diff(before, rawSnap(t, e.target)); d != nil {
		t.Fatalf("the folder changed: %v", d)
	}
}

// TestRefusesFoldersOthersCanWrite: target_dir writable by every user, or
// owned by another user, is refused unless allow_other_writers is set.
func TestRefusesFoldersOthersCanWrite(t *testing.T) {
	e := newEnv(t)
	e.repo.Commit("v1", filesV1)
	cfg := e.config(t, map[string]any{"channel": "developer"})
	os.Chmod(e.target, 0o777)
	before := rawSnap(t, e.target)
	mustFail(t, ota(t, cfg, nil, "update"), 5, "allow_other_writers")
	if d := treesnap.Diff(before, rawSnap(t, e.target)); d != nil {
		t.Fatalf("the folder changed: %v", d)
	}
	os.Chmod(e.target, 0o755)
	if os.Geteuid() == 0 {
		os.Chown(e.target, 4242, 4242)
		mustFail(t, ota(t, cfg, nil, "update"), 5, "uid 4242")
	}
	cfg = e.config(t, map[string]any{"channel": "developer", "allow_other_writers": true})
	if r := ota(t, cfg, nil, "update"); r.code != 0 {
		t.Fatal(r)
	}
	if d := treesnap.Diff(expect(filesV1), snap(t, e.target)); d != nil {
		t.Fatal(d)
	}
}
