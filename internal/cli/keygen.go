package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otafleet/ota/publish"
)

// KeygenOptions are the flags of "ota keygen".
type KeygenOptions struct {
	Dir            string
	Resign         bool
	Revoke         []string
	NewSigningKey  bool
	RootExpires    string
	SigningExpires string
}

func newKeygenCmd(g *Global) *cobra.Command {
	o := &KeygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen DIR",
		Short: "Create the keys of a signed update repository",
		Long: `keygen creates in DIR an offline root key pair (root.key, root.pub), an
online signing key pair (signing.key, signing.pub) and root.json, the
delegation signed by the root key that lists the signing keys.

Devices trust only root.pub: put its content ("ed25519:...") in the config
key trusted_keys. Keep root.key offline; "ota publish" needs only root.json
and signing*.key.

--resign re-signs root.json with root.key (new version, fresh expiry), and can
--revoke signing key ids and add a --new-signing-key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dir = args[0]
			return runKeygen(g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Resign, "resign", false, "re-sign root.json of an existing DIR instead of creating keys")
	f.StringSliceVar(&o.Revoke, "revoke", nil, "with --resign: signing key ids to revoke")
	f.BoolVar(&o.NewSigningKey, "new-signing-key", false, "with --resign: add a new signing key")
	f.StringVar(&o.RootExpires, "root-expires", "730d", "validity of root.json")
	f.StringVar(&o.SigningExpires, "signing-expires", "365d", "validity of the signing keys")
	return cmd
}

func runKeygen(g *Global, o *KeygenOptions) error {
	re, err := parseDays(o.RootExpires)
	if err != nil {
		return usageError{fmt.Errorf("--root-expires: %w", err)}
	}
	se, err := parseDays(o.SigningExpires)
	if err != nil {
		return usageError{fmt.Errorf("--signing-expires: %w", err)}
	}
	if !o.Resign {
		if len(o.Revoke) > 0 || o.NewSigningKey {
			return usageError{fmt.Errorf("--revoke and --new-signing-key need --resign")}
		}
		if err := publish.Keygen(publish.KeygenOptions{Dir: o.Dir, RootExpires: re, SigningExpires: se}); err != nil {
			return err
		}
	} else {
		root, err := publish.Resign(publish.ResignOptions{Dir: o.Dir, RootExpires: re, SigningExpires: se,
			Revoke: o.Revoke, NewSigningKey: o.NewSigningKey})
		if err != nil {
			return err
		}
		fmt.Fprintf(g.IO.Out, "Re-signed %s as version %d.\n", filepath.Join(o.Dir, publish.RootFile), root.Version)
	}
	pub, err := os.ReadFile(filepath.Join(o.Dir, publish.RootPubFile))
	if err != nil {
		return err
	}
	if g.JSON {
		return g.printJSON(map[string]string{"dir": o.Dir, "trusted_key": strings.TrimSpace(string(pub))})
	}
	if !o.Resign {
		fmt.Fprintf(g.IO.Out, "Created keys in %s. Keep %s offline.\n", o.Dir, publish.RootKeyFile)
	}
	fmt.Fprintf(g.IO.Out, "Device config: \"trusted_keys\": [%q]\n", strings.TrimSpace(string(pub)))
	return nil
}
