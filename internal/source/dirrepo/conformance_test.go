package dirrepo

import (
	"testing"

	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/internal/source/signedrepo/repotest"
	"github.com/otafleet/ota/internal/source/sourcetest"
)

func TestConformance(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T, fx sourcetest.Fixture) source.Source {
		f := repotest.FromFixture(t, fx)
		return New(f.Repo, signedrepo.Trust{Verifier: f.Verifier()})
	})
}
