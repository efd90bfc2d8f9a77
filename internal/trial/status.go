package trial

import (
	"time"
)

// errorName is the error log's name relative to Dir, or absolute (ErrorPath).
func (s Store) errorName() string {
	if s.ErrorPath != "" {
		return s.ErrorPath
	}
	return ErrorFile
}

// Errors returns the entries of ota_error.json, oldest first.
func (s Store) Errors() ([]string, error) {
	var f struct {
		Errors []string `json:"errors"`
	}
	if _, err := s.readJSON(s.errorName(), &f); err != nil {
		return nil, nil // corrupt: the next AppendError rewrites it
	}
	return f.Errors, nil
}

// AppendError adds "<RFC 3339 time> <msg>" to ota_error.json, keeping the
// newest ErrorLimit entries within MaxErrorBytes.
func (s Store) AppendError(now time.Time, msg string) error {
	errs, _ := s.Errors()
	errs = append(errs, now.UTC().Format(time.RFC3339)+" "+truncate(msg, maxErrorMessageBytes))
	limit := s.ErrorLimit
	if limit <= 0 {
		limit = DefaultErrorLimit
	}
	if len(errs) > limit {
		errs = errs[len(errs)-limit:]
	}
	size := 0
	for i := len(errs) - 1; i >= 0; i-- {
		size += len(errs[i]) + 4
		if size > MaxErrorBytes {
			errs = errs[i+1:]
			break
		}
	}
	return s.writeJSON(s.errorName(), struct {
		Errors []string `json:"errors"`
	}{errs})
}

// Status is what `ota status` reports about the agent's schedule.
type Status struct {
	LastCheck           time.Time `json:"last_check,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	NextCheck           time.Time `json:"next_check,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorTime       time.Time `json:"last_error_time,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
}

// Status reads status.json (zero when missing or corrupt).
func (s Store) Status() Status {
	var st Status
	_, _ = s.readJSON(StatusFile, &st)
	return st
}

// RecordCheck updates status.json after a check at now: err == nil resets
// the failure count and sets LastSuccess; otherwise LastError is set and the
// count grows. next is the scheduled next check (zero: unknown).
func (s Store) RecordCheck(now time.Time, err error, next time.Time) (Status, error) {
	st := s.Status()
	st.LastCheck = now.UTC()
	if err == nil {
		st.LastSuccess = st.LastCheck
		st.ConsecutiveFailures = 0
	} else {
		st.ConsecutiveFailures++
		st.LastError = truncate(err.Error(), maxErrorMessageBytes)
		st.LastErrorTime = st.LastCheck
	}
	if !next.IsZero() {
		st.NextCheck = next.UTC()
	}
	return st, s.writeJSON(StatusFile, st)
}

// SetNextCheck records the scheduled next check.
func (s Store) SetNextCheck(next time.Time) error {
	st := s.Status()
	st.NextCheck = next.UTC()
	return s.writeJSON(StatusFile, st)
}
