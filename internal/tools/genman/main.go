// Command genman writes ota's man page (section 1) from its command tree,
// so the page says exactly what --help says. Packaging runs it:
//
//	go run ./internal/tools/genman -version 1.2.3 > ota.1
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/otafleet/ota/internal/cli"
)

func main() {
	version := flag.String("version", cli.Version(), "version printed in the page footer")
	flag.Parse()
	write(os.Stdout, cli.Command(), *version)
}

// esc quotes text for roff: backslashes, and dots or quotes that start a line.
func esc(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

func write(w io.Writer, root *cobra.Command, version string) {
	fmt.Fprintf(w, ".TH OTA 1 %q %q \"ota manual\"\n", time.Now().UTC().Format("2006-01-02"), "ota "+version)
	fmt.Fprintf(w, ".SH NAME\nota \\- %s\n", esc(root.Short))
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B ota\n[\\fIglobal flags\\fR] \\fIcommand\\fR [\\fIflags\\fR] [\\fIarguments\\fR]\n")
	fmt.Fprintf(w, ".SH DESCRIPTION\n.nf\n%s\n.fi\n", esc(root.Long))
	fmt.Fprintf(w, ".SH GLOBAL FLAGS\n")
	flags(w, root.PersistentFlags())
	fmt.Fprintf(w, ".SH COMMANDS\n")
	for _, c := range commands(root) {
		fmt.Fprintf(w, ".SS %s\n", esc(c.CommandPath()+" "+strings.TrimPrefix(c.Use, c.Name())))
		fmt.Fprintf(w, "%s\n", esc(c.Short))
		if c.Long != "" {
			fmt.Fprintf(w, ".PP\n.nf\n%s\n.fi\n", esc(c.Long))
		}
		if c.LocalNonPersistentFlags().HasAvailableFlags() {
			fmt.Fprintf(w, ".PP\nFlags:\n")
			flags(w, c.LocalNonPersistentFlags())
		}
	}
	fmt.Fprintf(w, ".SH EXIT STATUS\n0 success, 1 internal error, 2 config or usage, 3 network or server, 4 verification,\n"+
		"5 local filesystem, 6 rejected and reverted, 7 busy (another ota holds the lock), 8 refused by the pre_update hook.\n")
	fmt.Fprintf(w, ".SH FILES\n.TP\n/etc/ota/config.toml\nthe configuration read by the packaged systemd units\n"+
		".TP\ntarget_dir/version.json\nthe installed version\n.TP\ntarget_dir/.ota/\nota's state (journal, index, caches, lock)\n")
	fmt.Fprintf(w, ".SH SEE ALSO\nsystemctl(1); the README and docs/ of the ota source.\n")
}

// commands lists every available command below root, depth first.
func commands(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, s := range c.Commands() {
		if !s.IsAvailableCommand() || s.Name() == "help" {
			continue
		}
		out = append(out, s)
		out = append(out, commands(s)...)
	}
	return out
}

func flags(w io.Writer, fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "--" + f.Name
		if f.Shorthand != "" {
			name = "-" + f.Shorthand + ", " + name
		}
		if v := f.Value.Type(); v != "bool" {
			name += " " + v
		}
		fmt.Fprintf(w, ".TP\n.B %s\n%s", esc(name), esc(f.Usage))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", esc(f.DefValue))
		}
		fmt.Fprintln(w)
	})
}
