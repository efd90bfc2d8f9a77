package ota

import "github.com/otafleet/ota/internal/source"

// ResolvedTarget returns the target as the source resolved it, including
// source-specific data such as a published rollout policy (Extra["rollout"]),
// which scheduling and rollout decisions read.
func (r *CheckResult) ResolvedTarget() source.Target { return r.target }
