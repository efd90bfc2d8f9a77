// Package rollout decides whether this device takes part in a staged rollout
// of a release, without any server-side state (the Cincinnati/Zincati model).
//
// Invariants:
//   - A device's cohort for a release is a pure function of (device id,
//     release identity): cohort = first 8 bytes of
//     SHA-256(device_id ‖ 0x00 ‖ release) read big-endian, mapped to [0,1).
//     It is stable across checks and restarts, and independent between
//     releases, so the same devices are not always the canaries.
//   - Admitted iff cohort < fraction. Because the cohort is fixed, a device
//     admitted at fraction f is admitted at every f' ≥ f: widening a ramp
//     never drops a device that already updated.
//   - A pulled release admits nobody; a paused ramp holds at StartPercent.
package rollout

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// DefaultMachineIDPath is where systemd keeps the machine id.
const DefaultMachineIDPath = "/etc/machine-id"

// Cohort maps (deviceID, release) to [0,1).
func Cohort(deviceID, release string) float64 {
	h := sha256.New()
	h.Write([]byte(deviceID))
	h.Write([]byte{0})
	h.Write([]byte(release))
	var sum [sha256.Size]byte
	x := binary.BigEndian.Uint64(h.Sum(sum[:0])[:8])
	return float64(x>>11) / (1 << 53) // 53 bits: exact in a float64, < 1
}

// Policy is a time-based ramp published with a release (Zincati's
// rollout: {start_epoch, start_percentage, duration_minutes}) plus the
// kill switches Paused and Pulled.
type Policy struct {
	StartTime    time.Time
	StartPercent float64 // 0..100 at StartTime
	// RampDuration is how long the linear ramp from StartPercent to 100 %
	// takes; zero means 100 % from StartTime on.
	RampDuration time.Duration
	// Paused holds the ramp at StartPercent (republish with a higher
	// StartPercent to hold at the current level).
	Paused bool
	// Pulled withdraws the release: nobody is admitted.
	Pulled bool
}

// Fraction returns the admitted share in [0,1] at now.
func (p Policy) Fraction(now time.Time) float64 {
	start := clamp01(p.StartPercent / 100)
	switch {
	case p.Pulled:
		return 0
	case !p.StartTime.IsZero() && now.Before(p.StartTime):
		return 0
	case p.Paused:
		return start
	case p.RampDuration <= 0:
		return 1
	}
	el := now.Sub(p.StartTime)
	if el >= p.RampDuration {
		return 1
	}
	return clamp01(start + (1-start)*float64(el)/float64(p.RampDuration))
}

func clamp01(f float64) float64 { return max(0, min(1, f)) }

// Decision explains an admission decision.
type Decision struct {
	Admitted bool    `json:"admitted"`
	Cohort   float64 `json:"cohort"`
	Fraction float64 `json:"fraction"`
	Reason   string  `json:"reason,omitempty"` // set when not admitted
}

// Decide admits the device to release. policy, when non-nil, wins over the
// static rollout_percent (which is 100 when unset: callers pass 100).
func Decide(deviceID, release string, policy *Policy, staticPercent float64, now time.Time) Decision {
	d := Decision{Cohort: Cohort(deviceID, release)}
	if policy != nil {
		d.Fraction = policy.Fraction(now)
	} else {
		d.Fraction = clamp01(staticPercent / 100)
	}
	d.Admitted = d.Cohort < d.Fraction
	switch {
	case d.Admitted:
	case policy != nil && policy.Pulled:
		d.Reason = "release pulled by the publisher; waiting for a newer one"
	case policy != nil && !policy.StartTime.IsZero() && now.Before(policy.StartTime):
		d.Reason = fmt.Sprintf("rollout starts at %s", policy.StartTime.UTC().Format(time.RFC3339))
	default:
		d.Reason = fmt.Sprintf("staged rollout at %.1f%%; this device's cohort is %.1f%% and will be admitted when the rollout reaches it",
			100*d.Fraction, 100*d.Cohort)
	}
	return d
}

// PolicyFromExtra reads a rollout policy from a source Target's Extra map
// under key "rollout". Accepted shapes: a Policy, the signed repository's
// policy (any value that encodes to JSON as {"start": RFC 3339,
// "start_percent", "ramp_duration": "36h", "paused", "pulled"}), or the
// Zincati/Cincinnati form {"start_epoch", "start_percentage",
// "duration_minutes", "paused", "pulled"}. ok is false when there is none.
func PolicyFromExtra(extra map[string]any) (p Policy, ok bool, err error) {
	raw, present := extra["rollout"]
	if !present || raw == nil {
		return Policy{}, false, nil
	}
	switch v := raw.(type) {
	case Policy:
		return v, true, nil
	case *Policy:
		if v == nil {
			return Policy{}, false, nil
		}
		return *v, true, nil
	}
	m, isMap := raw.(map[string]any)
	if !isMap {
		b, err := json.Marshal(raw)
		if err != nil {
			return Policy{}, false, fmt.Errorf("rollout policy %T: %w", raw, err)
		}
		if string(b) == "null" {
			return Policy{}, false, nil
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return Policy{}, false, fmt.Errorf("rollout policy %T is not an object: %w", raw, err)
		}
	}
	num := func(keys ...string) (float64, error) {
		for _, k := range keys {
			x, ok := m[k]
			if !ok || x == nil {
				continue
			}
			switch n := x.(type) {
			case float64:
				return n, nil
			case int64:
				return float64(n), nil
			case int:
				return float64(n), nil
			case json.Number:
				return n.Float64()
			}
			return 0, fmt.Errorf("rollout.%s: want a number, got %T", k, x)
		}
		return 0, nil
	}
	sp, err := num("start_percent", "start_percentage")
	if err != nil {
		return Policy{}, false, err
	}
	if sp < 0 || sp > 100 {
		return Policy{}, false, fmt.Errorf("rollout: start percent %v must be 0..100", sp)
	}
	p = Policy{StartPercent: sp}
	if s, ok := m["start"].(string); ok && s != "" {
		if p.StartTime, err = time.Parse(time.RFC3339, s); err != nil {
			return Policy{}, false, fmt.Errorf("rollout.start: %w", err)
		}
	} else if se, err := num("start_epoch"); err != nil {
		return Policy{}, false, err
	} else if se > 0 {
		p.StartTime = time.Unix(int64(se), 0)
	}
	if d, ok := m["ramp_duration"].(string); ok && d != "" {
		if p.RampDuration, err = time.ParseDuration(d); err != nil {
			return Policy{}, false, fmt.Errorf("rollout.ramp_duration: %w", err)
		}
	} else if dm, err := num("duration_minutes"); err != nil {
		return Policy{}, false, err
	} else {
		p.RampDuration = time.Duration(dm * float64(time.Minute))
	}
	if p.RampDuration < 0 {
		return Policy{}, false, fmt.Errorf("rollout: negative ramp duration %v", p.RampDuration)
	}
	p.Paused, _ = m["paused"].(bool)
	p.Pulled, _ = m["pulled"].(bool)
	return p, true, nil
}

// DeviceID returns the configured device_id, else the machine id read from
// machineIDPath (DefaultMachineIDPath when empty), else the hostname.
func DeviceID(configured, machineIDPath string) (string, error) {
	if id := strings.TrimSpace(configured); id != "" {
		return id, nil
	}
	if machineIDPath == "" {
		machineIDPath = DefaultMachineIDPath
	}
	b, err := os.ReadFile(machineIDPath)
	if err == nil {
		if id := string(bytes.TrimSpace(b)); id != "" && id != "uninitialized" {
			return id, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w (set device_id in the config)", machineIDPath, err)
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "", fmt.Errorf("no device id: %s missing and hostname unknown (%v); set device_id in the config", machineIDPath, err)
	}
	return h, nil
}
