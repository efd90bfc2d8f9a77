package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/publish"
	"github.com/otafleet/ota/repo"
)

// PublishOptions are the flags of "ota publish".
type PublishOptions struct {
	publish.Options
	Expires        string
	RolloutPercent float64
	RolloutRamp    string
	LegacyLatest   bool
}

func newPublishCmd(g *Global) *cobra.Command {
	o := &PublishOptions{}
	cmd := &cobra.Command{
		Use:   "publish --src PATH [--ref REF] --out REPO_DIR --keys DIR",
		Short: "Publish a version into a signed static update repository",
		Long: `publish adds one version to a static update repository that devices read
with source "http" (any static web server) or "dir" (a folder, a USB stick).

PATH is a git repository (then --ref names the tag, branch or commit) or a
plain folder (then --ref is only a label). The repository gets
content-addressed objects, deltas from the previous --deltas versions, and
metadata signed with the keys in --keys (see "ota keygen"): a small signed
head.json naming the file list (manifests/<sha256>) by digest, with
manifest-deltas/ from the previous --manifest-deltas versions, so a device
fetches only what changed. head.json is replaced last, so devices never see
a half-published version. latest.json (the whole signed file list, read by
agents older than head.json) is written too until --legacy-latest=false.

--format seed writes the original MicroPython updater's manifest.json
instead, signed with --key or $MANIFEST_KEY (HMAC-SHA256). OUT remembers the
version published into it (OUT/.ota-seed.json): the next publication lists
the files that version had and the new one has not in "deletes", and, from
a git --src, writes OUT/.deltas/ in the original's v1 format and naming from
that version (files of 1 KiB or more, deltas saving at least 30 %), which the
original reads from .deltas/ in the tagged tree (commit it with the release).
--delta-from REF names another base; --deltas 0 writes none.

--format github-release writes the release's GitHub assets flat into --out:
ota-manifest.json (the signed bundle), obj-<sha256> (file contents) and
delta-<from-sha256>-<to-sha256>.<format>. Upload them with, e.g.,
"gh release upload TAG OUT/*". The full repository (version numbers, old
objects for deltas) is kept in OUT/.ota-publish/; without it, numbering
continues after OUT/ota-manifest.json when present. Devices with
trusted_keys and source "github" verify the manifest.

Layout: head.json, manifests/<sha256>, manifest-deltas/<from>-<to>.v2,
latest.json, metadata/<version>.json, objects/<sha256[:2]>/<sha256>,
deltas/<from-sha256>-<to-sha256>.<format>.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Logger = g.logger(false)
			return runPublish(cmd, g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Src, "src", "", "git repository or folder to publish")
	f.StringVar(&o.Ref, "ref", "", "git ref to publish (tag, branch, commit); a label for a plain folder")
	f.StringVar(&o.Out, "out", "", "repository directory to publish into")
	f.StringVar(&o.Keys, "keys", "", "keys directory made by \"ota keygen\"")
	f.StringVar(&o.Expires, "expires", "30d", "how long the signed metadata stays valid (e.g. 720h, 30d)")
	f.StringVar(&o.Format, "format", "", "\"seed\": the original manifest.json; \"github-release\": signed repository as flat release assets")
	f.StringVar(&o.SeedKey, "key", os.Getenv("MANIFEST_KEY"), "HMAC key for --format seed (default $MANIFEST_KEY)")
	f.IntVar(&o.Deltas, "deltas", 3, "make deltas from this many previous versions (0: none; with --format seed, 0 writes no .deltas/)")
	f.IntVar(&o.ManifestDeltas, "manifest-deltas", publish.DefaultManifestDeltas, "make manifest deltas from this many previous versions (0: none)")
	f.BoolVar(&o.LegacyLatest, "legacy-latest", true, "also write latest.json with the whole file list, for agents older than head.json (false: remove it)")
	f.StringVar(&o.DeltaFrom, "delta-from", "", "with --format seed: write .deltas/ (v1, original naming) from this git ref instead of the version last published into --out")
	f.Float64Var(&o.RolloutPercent, "rollout-percent", -1, "staged rollout: percent of devices at the start (0-100)")
	f.StringVar(&o.RolloutRamp, "rollout-ramp", "", "staged rollout: time to ramp up to 100% (e.g. 48h, 7d)")
	return cmd
}

func runPublish(cmd *cobra.Command, g *Global, o *PublishOptions) error {
	if o.Src == "" || o.Out == "" || (o.Keys == "" && o.Format != "seed") {
		return usageError{fmt.Errorf("publish needs --src, --out and --keys (--keys is not needed with --format seed)")}
	}
	exp, err := parseDays(o.Expires)
	if err != nil {
		return usageError{fmt.Errorf("--expires: %w", err)}
	}
	o.Options.Expires = exp
	o.HeadOnly = !o.LegacyLatest
	if o.ManifestDeltas == 0 {
		o.ManifestDeltas = -1 // none (0 in publish.Options means the default)
	}
	if o.RolloutPercent >= 0 || o.RolloutRamp != "" {
		ramp, err := parseDays(o.RolloutRamp)
		if err != nil && o.RolloutRamp != "" {
			return usageError{fmt.Errorf("--rollout-ramp: %w", err)}
		}
		if o.RolloutPercent > 100 {
			return usageError{fmt.Errorf("--rollout-percent: expected 0 to 100, got %g", o.RolloutPercent)}
		}
		o.Rollout = &repo.Rollout{Start: time.Now().UTC().Truncate(time.Second), StartPercent: max(o.RolloutPercent, 0), RampDuration: repo.Duration(ramp)}
	}
	res, err := publish.Run(cmd.Context(), o.Options)
	if errors.Is(err, repo.ErrTooLarge) {
		return usageError{err} // a choice of flags (--legacy-latest=false), not a bug: exit 2
	}
	if err != nil {
		return err
	}
	if g.JSON {
		return g.printJSON(res)
	}
	if o.Format == "seed" {
		fmt.Fprintf(g.IO.Out, "Wrote %s: %s, %d files, %d deletes, %d deltas.\n", res.Metadata, res.Ref, res.Files, res.Deletes, res.Deltas)
		return nil
	}
	if o.Format == publish.FormatGitHubRelease {
		fmt.Fprintf(g.IO.Out, "Version %d (%s, %s): %d files, %d deltas; %d release assets in %s (upload them all, e.g. gh release upload %s %s/*).\n",
			res.Version, res.Ref, shortID(res.Commit), res.Files, res.Deltas, res.Assets, o.Out, res.Ref, o.Out)
		return nil
	}
	fmt.Fprintf(g.IO.Out, "Published version %d (%s, %s): %d files, %d new objects, %d deltas.\n",
		res.Version, res.Ref, shortID(res.Commit), res.Files, res.NewObjects, res.Deltas)
	return nil
}

// parseDays is time.ParseDuration that also accepts a whole number of days ("30d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("expected a duration such as 30d or 720h, got %q", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("expected a duration such as 30d or 720h, got %q", s)
	}
	return d, nil
}

func shortID(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
