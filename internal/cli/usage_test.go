package cli

import (
	"strings"
	"testing"
)

// TestUsageErrorsExit2: every command-line mistake exits 2 by its error's
// type (not by matching cobra's text); a group without a subcommand prints
// help and succeeds.
func TestUsageErrorsExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"delta", "bogus"}, 2, `unknown command "bogus" for "ota delta"`},
		{[]string{"update", "--bogus"}, 2, "unknown flag"},
		{[]string{"status", "extra"}, 2, "extra"},
		{[]string{"delta", "diff", "a"}, 2, "accepts 3 arg(s)"},
		{[]string{"check", "--progress"}, 2, "flag needs an argument"},
		{[]string{}, 0, ""},
		{[]string{"delta"}, 0, ""},
	} {
		code, _, stderr := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("ota %v: exit %d, want %d mentioning %q: %s", c.args, code, c.code, c.msg, stderr)
		}
	}
}
