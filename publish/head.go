package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/otafleet/ota/delta"
	"github.com/otafleet/ota/internal/source/signedrepo"
	"github.com/otafleet/ota/repo"
)

// DefaultManifestDeltas is how many previous versions get a manifest delta
// (Flatpak keeps 16 summary versions for the same purpose). A delta of a
// manifest is about 50 bytes per changed file, so they cost little.
const DefaultManifestDeltas = 16

// writeManifest writes the manifest of rel (content-addressed), manifest
// deltas from the previous versions' manifests, and returns the signed head
// bundle (checked with root.pub like the release bundle). Manifests of
// versions published before the head format are rebuilt from their
// metadata/<version>.json: the encoding is canonical, so they are the bytes
// a device that accepted that version's latest.json keeps.
func writeManifest(log *slog.Logger, st *store, rel *repo.Release, prev int64, o Options, ks *keyset) ([]byte, error) {
	man, err := repo.EncodeManifest(rel)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	head := repo.HeadOf(rel, man)
	if err := st.putFile(repo.ManifestPath(head.Manifest.SHA256), man); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	k := o.ManifestDeltas
	if k == 0 {
		k = DefaultManifestDeltas
	}
	// The first install of a small tree is one pack too.
	if err := writePacks(st, &repo.Release{}, rel); err != nil {
		return nil, fmt.Errorf("packs for a first install: %w", err)
	}
	done := map[string]bool{head.Manifest.SHA256: true}
	for v := prev; v > 0 && v > prev-int64(k); v-- {
		b, err := st.read(repo.MetadataPath(v))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		old, err := repo.UnverifiedRelease(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", repo.MetadataPath(v), err)
		}
		oldMan, err := repo.EncodeManifest(old)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", repo.MetadataPath(v), err)
		}
		if err := writePacks(st, old, rel); err != nil {
			return nil, fmt.Errorf("packs from version %d: %w", v, err)
		}
		from := repo.HeadOf(old, oldMan).Manifest.SHA256
		if done[from] {
			continue
		}
		done[from] = true
		name := repo.ManifestDeltaPath(from, head.Manifest.SHA256)
		if _, err := st.read(name); err == nil {
			continue
		}
		patch, err := delta.DiffBytes(oldMan, man, delta.Options{Format: delta.V2})
		if err != nil {
			return nil, fmt.Errorf("manifest delta from version %d: %w", v, err)
		}
		if len(patch) >= len(man) {
			continue // the whole manifest is the smaller download
		}
		if got, err := ApplyDelta(oldMan, patch); err != nil || string(got) != string(man) {
			return nil, fmt.Errorf("manifest delta from version %d does not reproduce the manifest (%v)", v, err)
		}
		if err := st.putFile(name, patch); err != nil {
			return nil, err
		}
		log.Debug("manifest delta", "from", v, "bytes", len(patch))
	}
	payload, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	data, err := (&repo.HeadBundle{Root: ks.root, Head: repo.Sign(repo.TypeHead, payload, ks.signers...)}).Marshal()
	if err != nil {
		return nil, err
	}
	if len(ks.rootPub) > 0 { // self-check: a device with root.pub must accept it
		v := repo.Verifier{TrustedKeys: ks.rootPub, Now: func() time.Time { return rel.Created }}
		vh, err := v.VerifyHead(data, repo.Seen{})
		if err == nil {
			_, err = v.Manifest(vh, man)
		}
		if err != nil {
			return nil, fmt.Errorf("signed head does not verify with %s: %w", RootPubFile, err)
		}
	}
	return data, nil
}

// writePacks writes the packs a device on old reads to update to rel, with
// deltas on and off (repo.PackItems: what the device's fetch reads, so the
// names match). Packs over repo.MaxPackSize or of one piece are not made.
func writePacks(st *store, old, rel *repo.Release) error {
	byPath := make(map[string]repo.File, len(old.Files))
	for _, f := range old.Files {
		byPath[f.Path] = f
	}
	for _, deltas := range []bool{true, false} {
		var wants []repo.PackWant
		for _, nf := range rel.Files {
			of, ok := byPath[nf.Path]
			if ok && of.SHA1 == nf.SHA1 {
				continue // unchanged, or only the mode changed (copied locally)
			}
			w := repo.PackWant{File: nf}
			if deltas && ok && of.Mode != repo.ModeSymlink && nf.Mode != repo.ModeSymlink {
				w.FromSHA1 = of.SHA1
			}
			wants = append(wants, w)
		}
		items := repo.PackItems(rel, wants, signedrepo.DefaultDeltaFormats)
		if len(items) < 2 || repo.PackSize(items) > repo.MaxPackSize {
			continue
		}
		name := repo.PackPath(items)
		if _, err := st.read(name); err == nil {
			continue
		}
		pack := make([]byte, 0, repo.PackSize(items))
		for _, it := range items {
			b, err := st.read(it.Path)
			if err != nil {
				return err
			}
			if int64(len(b)) != it.Size || repo.SHA256Hex(b) != it.SHA256 {
				return fmt.Errorf("%s differs from its metadata", it.Path)
			}
			pack = append(pack, b...)
		}
		if err := st.putFile(name, pack); err != nil {
			return err
		}
	}
	return nil
}
