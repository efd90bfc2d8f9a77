package fetch

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otafleet/ota/internal/fsx"
	"github.com/otafleet/ota/internal/plan"
	"github.com/otafleet/ota/internal/retry"
	"github.com/otafleet/ota/internal/source"
	"github.com/otafleet/ota/internal/testutil/memsource"
)

// breaking cuts the first breaks downloads after cut bytes, or refuses
// every open with refuse; it records the offset of each open.
type breaking struct {
	*memsource.Source
	breaks  int
	cut     int64
	refuse  error
	offsets []int64
}

func (b *breaking) Open(ctx context.Context, t source.Target, e source.Entry, offset int64) (io.ReadCloser, error) {
	b.offsets = append(b.offsets, offset)
	if b.refuse != nil {
		return nil, b.refuse
	}
	rc, err := b.Source.Open(ctx, t, e, offset)
	if err != nil || len(b.offsets) > b.breaks {
		return rc, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, b.cut), errReader{errors.New("connection reset")}), rc}, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestDownloadRetry: a transfer that breaks mid-body is retried with the
// shared policy, each attempt resuming after the staged bytes; refusals are
// not retried; cancellation stops the wait.
func TestDownloadRetry(t *testing.T) {
	data := strings.Repeat("0123456789", 100) // 1000 bytes
	for _, tc := range []struct {
		name        string
		src         breaking
		attempts    int
		cancel      bool
		wantOffsets []int64
		wantSleeps  int
		wantErr     error // nil: success
	}{
		{name: "two breaks, three attempts", src: breaking{breaks: 2, cut: 300}, attempts: 3, wantOffsets: []int64{0, 300, 600}, wantSleeps: 2},
		{name: "two breaks, two attempts", src: breaking{breaks: 2, cut: 300}, attempts: 2, wantOffsets: []int64{0, 300}, wantSleeps: 1, wantErr: source.ErrTransfer},
		{name: "attempts 0 means one", src: breaking{breaks: 1, cut: 300}, attempts: 0, wantOffsets: []int64{0}, wantErr: source.ErrTransfer},
		{name: "refusal not retried", src: breaking{refuse: source.ErrNotFound}, attempts: 3, wantOffsets: []int64{0}, wantErr: source.ErrNotFound},
		{name: "cancel stops the wait", src: breaking{breaks: 1, cut: 300}, attempts: 3, cancel: true, wantOffsets: []int64{0}, wantSleeps: 1, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := memsource.New()
			v := ms.Publish("v1", memsource.Tree{"big.bin": {Data: data}})
			src := tc.src
			src.Source = ms
			tgt := source.Target{Version: v}
			tree, _ := ms.Tree(context.Background(), tgt)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var sleeps []time.Duration
			dir := filepath.ToSlash(t.TempDir())
			stage := path.Join(dir, ".stage")
			o := Options{FS: fsx.OS{Root: dir}, Source: &src, Target: tgt, TargetDir: dir, StageDir: stage, PartDir: path.Join(dir, ".ota", "partial"),
				Attempts: tc.attempts, Backoff: time.Second, MaxBackoff: 4 * time.Second,
				Sleep: func(ctx context.Context, d time.Duration) error {
					sleeps = append(sleeps, d)
					if tc.cancel {
						cancel()
					}
					return ctx.Err()
				}}
			_, err := Run(ctx, o, []plan.Change{{Path: "big.bin", Entry: &tree[0]}})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatal(err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(src.offsets, tc.wantOffsets) {
				t.Fatalf("opens at offsets %v, want %v", src.offsets, tc.wantOffsets)
			}
			if len(sleeps) != tc.wantSleeps {
				t.Fatalf("sleeps %v, want %d", sleeps, tc.wantSleeps)
			}
			p := retry.Policy{Backoff: o.Backoff, MaxBackoff: o.MaxBackoff}
			for i, d := range sleeps {
				if d < 0 || d > p.Ceiling(i+1) {
					t.Fatalf("sleep %d = %v, outside [0, %v]", i+1, d, p.Ceiling(i+1))
				}
			}
			if tc.wantErr == nil {
				if b, err := os.ReadFile(path.Join(stage, "big.bin")); err != nil || string(b) != data {
					t.Fatalf("staged %d bytes (%v), want %d", len(b), err, len(data))
				}
			}
		})
	}
}
