package ota_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/otafleet/ota"
	"github.com/otafleet/ota/config"
	"github.com/otafleet/ota/publish"
)

// A device folder kept equal to a signed repository in a local folder: a
// publisher signs version 1, the device installs it, then rolls back from
// version 2.
func Example() {
	ctx := context.Background()
	work, _ := os.MkdirTemp("", "ota-example")
	defer os.RemoveAll(work)
	app, keys, repoDir, device := filepath.Join(work, "app"), filepath.Join(work, "keys"), filepath.Join(work, "repo"), filepath.Join(work, "device")
	for _, d := range []string{app, device} {
		os.MkdirAll(d, 0o755)
	}

	// Publisher side: keys once, then one signed version per release.
	if err := publish.Keygen(publish.KeygenOptions{Dir: keys}); err != nil {
		log.Fatal(err)
	}
	release := func(label, main string) {
		os.WriteFile(filepath.Join(app, "main.py"), []byte(main), 0o644)
		if _, err := publish.Run(ctx, publish.Options{Src: app, Ref: label, Out: repoDir, Keys: keys}); err != nil {
			log.Fatal(err)
		}
	}
	release("v1", "print('v1')\n")

	// Device side: a config, as `ota --config` reads it.
	pub, _ := os.ReadFile(filepath.Join(keys, publish.RootPubFile))
	cfgJSON, _ := json.Marshal(map[string]any{
		"source": "dir", "path": repoDir, "target_dir": device,
		"trusted_keys": []string{strings.TrimSpace(string(pub))},
	})
	cfgPath := filepath.Join(work, "ota.json")
	os.WriteFile(cfgPath, cfgJSON, 0o600)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		log.Fatal(err)
	}
	u, err := ota.Open(cfg, ota.Options{})
	if err != nil {
		log.Fatal(err)
	}

	c, err := u.Check(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("available:", c.UpdateAvailable, "add:", c.Add)
	r, err := u.Update(ctx, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("installed:", r.Current.Ref)

	release("v2", "print('v2')\n")
	if r, err = u.Update(ctx, true); err != nil {
		log.Fatal(err)
	}
	fmt.Println("installed:", r.Current.Ref)
	if r, err = u.Rollback(ctx); err != nil {
		log.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(device, "main.py"))
	fmt.Printf("rolled back to %s: %s", r.Current.Ref, b)
	// Output:
	// available: true add: [main.py]
	// installed: v1
	// installed: v2
	// rolled back to v1: print('v1')
}
