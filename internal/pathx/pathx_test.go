package pathx

import "testing"

func TestValidate(t *testing.T) {
	bad := []string{"", "../bad", "/bad", "dir/../bad", "dir/./bad", "dir//bad", "a/b/", "./x",
		"a\\..\\b", "nul\x00x", "ctl\x01x", "..", ".", "bad\xff"}
	for _, p := range bad {
		if Validate(p) == nil {
			t.Errorf("Validate(%q) accepted", p)
		}
	}
	good := []string{"a", "a/b.py", ".github/x.yml", "...", "dir/.hidden", "ünïcødé/文件.txt", "a b/c"}
	for _, p := range good {
		if err := Validate(p); err != nil {
			t.Errorf("Validate(%q) = %v", p, err)
		}
	}
}

func TestLinkInside(t *testing.T) {
	cases := []struct {
		rel, target string
		ok          bool
	}{
		{"a/link", "b", true},
		{"a/link", "../b", true},
		{"a/link", "../../b", false},
		{"link", "../x", false},
		{"link", "/etc/passwd", false},
		{"a/link", "..", false},
		{"a/b/link", "../c/d", true},
		{"link", "", false},
	}
	for _, c := range cases {
		if got := LinkInside(c.rel, c.target); got != c.ok {
			t.Errorf("LinkInside(%q,%q)=%v want %v", c.rel, c.target, got, c.ok)
		}
	}
}

func TestFilter(t *testing.T) {
	// The original's acceptance check (seed-system §8, test_path_filtering).
	f, err := NewFilter([]string{"/allowed/", "/exact.txt"}, []string{"/allowed/skip/"})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"allowed/a.py": true, "exact.txt": true, "allowed/skip/x": false, "other.py": false,
		"allowedx/a": false, "exact.txt.bak": false,
	} {
		if got := f.Permitted(p); got != want {
			t.Errorf("Permitted(%q)=%v want %v", p, got, want)
		}
	}
	g, _ := NewFilter([]string{"*.py", "lib/**"}, []string{"**/__pycache__", "*.pyc"})
	for p, want := range map[string]bool{
		"main.py": true, "lib/x/y.txt": true, "lib/__pycache__/a": false, "readme.md": false,
		"sub/main.py": false, "x.pyc": false,
	} {
		if got := g.Permitted(p); got != want {
			t.Errorf("glob Permitted(%q)=%v want %v", p, got, want)
		}
	}
	all, _ := NewFilter(nil, nil)
	if !all.Permitted("anything/at/all") {
		t.Error("empty allow must permit all")
	}
	if _, err := NewFilter([]string{"[bad"}, nil); err == nil {
		t.Error("bad glob accepted")
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a//b", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if Validate(p) != nil {
			return
		}
		if !LinkInside("x", p) && !LinkInside(p, "y") {
			// a valid path used as a link name next to a plain target stays inside
			t.Fatalf("valid path %q escapes", p)
		}
	})
}

func TestResolveInside(t *testing.T) {
	cases := []struct {
		name  string
		links map[string]string
		bad   string // the link that must be refused ("" = all fine)
	}{
		{"plain", map[string]string{"a/l": "../b", "l": "a/b/c"}, ""},
		{"dot prefix", map[string]string{"d/l": "./x", "m": "d/./x/../y"}, ""},
		{"chain escapes", map[string]string{"x/y/s": "../../a", "x/y/t": "s/../../outside"}, "x/y/t"},
		{"chain inside", map[string]string{"x/y/s": "../../a/b", "x/y/t": "s/../c"}, ""},
		{"lexical escape", map[string]string{"l": "../x"}, "l"},
		{"absolute", map[string]string{"l": "/etc"}, "l"},
		{"through an absolute link", map[string]string{"a": "/etc", "b": "a/passwd"}, "b"},
		{"loop", map[string]string{"a": "b", "b": "a"}, "a"},
		{"folder link then up", map[string]string{"up": "..", "x/in": "../up/y"}, "up"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for l := range c.links {
				err := ResolveInside(l, c.links)
				if l == c.bad && err == nil {
					t.Errorf("%s accepted", l)
				}
				if c.bad == "" && err != nil {
					t.Errorf("%s: %v", l, err)
				}
			}
		})
	}
}
