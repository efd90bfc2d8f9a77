// Command testsummary reads `go test -json` on stdin, prints failures and
// skips, and ends with the line "N passed, N failed, N skipped". It exits 1
// when a test failed or was skipped: in CI every test is required.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	var passed, failed, skipped int
	out := map[string][]string{} // package/test -> output lines
	var failures, skips []string
	pkgs := map[string]string{}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Println(sc.Text())
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			out[key] = append(out[key], e.Output)
			if e.Test == "" && strings.Contains(e.Output, "crash points") || strings.Contains(e.Output, "MEASURE") {
				fmt.Print(e.Output)
			}
		case "pass":
			if e.Test != "" {
				passed++
			} else {
				pkgs[e.Package] = fmt.Sprintf("ok   %s %.1fs", e.Package, e.Elapsed)
			}
		case "fail":
			if e.Test != "" {
				failed++
				failures = append(failures, key)
			} else {
				pkgs[e.Package] = fmt.Sprintf("FAIL %s %.1fs", e.Package, e.Elapsed)
				if len(out[key]) > 0 {
					failures = append(failures, key)
				}
			}
		case "skip":
			if e.Test != "" {
				skipped++
				skips = append(skips, key)
			} else {
				pkgs[e.Package] = "?    " + e.Package + " [no test files]"
			}
		}
	}
	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		fmt.Println(pkgs[p])
	}
	for _, f := range failures {
		fmt.Printf("\n--- FAIL: %s\n%s", f, strings.Join(out[f], ""))
	}
	for _, s := range skips {
		fmt.Printf("\n--- SKIP (required in CI): %s\n%s", s, strings.Join(out[s], ""))
	}
	fmt.Printf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || skipped > 0 {
		os.Exit(1)
	}
}
