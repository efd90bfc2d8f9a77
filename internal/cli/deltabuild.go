package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/publish"
)

func newDeltaBuildCmd() *cobra.Command {
	o := publish.DeltaDirOptions{}
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "build --repo DIR --from REF --to REF",
		Short: "Write the .deltas/ folder for the files changed between two git refs",
		Long: `build makes a delta for every regular file that changed between --from and
--to and saves at least 30 %, checks each one by applying it, and writes them to
--out (default: <repo>/.deltas). Commit that folder with the new version: an
agent with enable_delta_updates on the GitHub source then downloads the delta
instead of the file.

Naming "sha" (default, format v2): .deltas/<from blob sha1>-<to blob sha1>.delta,
so a device finds the delta that fits the file it has installed; deltas to
blobs the new tree no longer has are removed, older ones are kept.
Naming "seed" (use --format v1): the original updater's .deltas/<path with / as _>.delta
plus delta_manifest.json, for MicroPython devices on exactly --from.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Repo == "" || o.From == "" || o.To == "" {
				return &DeltaExitError{Code: exitUsage, Err: fmt.Errorf("--repo, --from and --to are required; usage: %s", cmd.UseLine())}
			}
			if o.Out == "" {
				o.Out = filepath.Join(o.Repo, ".deltas")
			}
			r, err := publish.BuildDeltaDir(cmd.Context(), o)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSONTo(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d deltas written to %s (%d bytes for %d bytes of new files), %d skipped, %d stale removed\n",
				r.Deltas, o.Out, r.DeltaBytes, r.NewBytes, r.Skipped, r.Removed)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Repo, "repo", ".", "git repository")
	f.StringVar(&o.From, "from", "", "old ref (the version devices have)")
	f.StringVar(&o.To, "to", "HEAD", "new ref")
	f.StringVar(&o.Out, "out", "", "output folder (default <repo>/.deltas)")
	f.StringVar(&o.Format, "format", "v2", "delta format: v2 or v1")
	f.StringVar(&o.Naming, "naming", publish.NamingSHA, "file names: sha or seed")
	f.Int64Var(&o.MinSize, "min-size", 256, "skip files smaller than this many bytes")
	f.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}

func printJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
