package schedule

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
	// Embedded zone database (~450 kB): update_window_tz must work on
	// minimal device images without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// NestedKey is the original's documented (but never implemented) nested
// object: {"update_scheduling": {"min_update_interval_sec": 600, ...}}.
const NestedKey = "update_scheduling"

// nestedKeys are the keys accepted inside update_scheduling; they mean
// exactly what the flat keys of the same name mean.
var nestedKeys = map[string]bool{
	"check_interval":           true,
	"min_update_interval_sec":  true,
	"update_window_start_hour": true,
	"update_window_end_hour":   true,
	"update_window_tz":         true,
	"power_source":             true,
	"max_crashes_before_delay": true,
	"rollout_percent":          true,
	"error_history_limit":      true,
	"min_battery_percent":      true,
}

// Flatten moves the keys of a nested update_scheduling object to the top level
// of a decoded configuration map, in place, and removes the nested object. A
// key given both flat and nested must have the same value (else an error
// naming it). A nested key this package does not know is dropped and
// reported in warnings, like any unknown top-level key.
func Flatten(cfg map[string]any) (warnings []string, err error) {
	raw, ok := cfg[NestedKey]
	if !ok {
		return nil, nil
	}
	if raw == nil {
		delete(cfg, NestedKey)
		return nil, nil
	}
	nested, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("key %q: expected a table/object of scheduling keys, got %T", NestedKey, raw)
	}
	keys := make([]string, 0, len(nested))
	for k := range nested {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := nested[k]
		if len(k) > 0 && k[0] == '_' { // the original's "_<key>_comment" siblings
			continue
		}
		if !nestedKeys[k] {
			warnings = append(warnings, fmt.Sprintf("unknown key %q in %s is ignored (allowed: %s)", k, NestedKey, allowedNested()))
			continue
		}
		if flat, dup := cfg[k]; dup && !sameValue(flat, v) {
			return warnings, fmt.Errorf("key %q is set both at top level (%v) and in %s (%v): keep one", k, flat, NestedKey, v)
		}
		cfg[k] = v
	}
	delete(cfg, NestedKey)
	return warnings, nil
}

func allowedNested() string {
	ks := make([]string, 0, len(nestedKeys))
	for k := range nestedKeys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// sameValue compares decoded values, treating numbers of different Go types
// (JSON float64, TOML int64) as equal when numerically equal.
func sameValue(a, b any) bool {
	fa, aok := number(a)
	fb, bok := number(b)
	if aok && bok {
		return fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	if n, ok := v.(interface{ Float64() (float64, error) }); ok { // json.Number
		f, err := n.Float64()
		return f, err == nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// LoadLocation resolves update_window_tz: "" or "Local" is the system zone,
// anything else an IANA name (e.g. "Europe/Berlin").
func LoadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("update_window_tz = %q: %w (use an IANA zone name such as \"Europe/Berlin\" or \"UTC\")", name, err)
	}
	return loc, nil
}
