package config

import "github.com/otafleet/ota/internal/pathx"

func newFilterCheck(allow, ignore []string) (pathx.Filter, error) {
	return pathx.NewFilter(allow, ignore)
}

// Filter returns the allow/ignore filter of c.
func (c Config) Filter() pathx.Filter {
	f, _ := pathx.NewFilter(c.Allow, c.Ignore)
	return f
}
