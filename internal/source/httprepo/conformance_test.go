package httprepo

import (
	"testing"
	"time"

	"github.com/otafleet/ota/internal/httpx"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/internal/source/signedrepo/repotest"
	"github.com/otafleet/ota/internal/source/sourcetest"
)

// TestConformance runs the source suite against real nginx.
func TestConformance(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T, fx sourcetest.Fixture) source.Source {
		f := repotest.FromFixture(t, fx)
		ng := startNginx(t, f.Repo)
		s, err := New(Options{URL: ng.URL, Trust: signedrepo.Trust{Verifier: f.Verifier()}, HTTP: httpx.Options{Backoff: time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
