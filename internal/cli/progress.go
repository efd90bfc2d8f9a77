package cli

import (
	"io"
	"sync/atomic"

	"github.com/otafleet/ota/internal/engine"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// bar is an engine.Progress drawn with mpb on a terminal: bytes, files, rate, ETA.
type bar struct {
	w     io.Writer
	p     *mpb.Progress
	bytes *mpb.Bar
	files atomic.Int64
	total int
}

func newBar(w io.Writer) *bar { return &bar{w: w} }

// NewProgressBar returns an engine.Progress that draws on w (a terminal).
func NewProgressBar(w io.Writer) engine.Progress { return newBar(w) }

func (b *bar) Start(files int, total int64) {
	b.total = files
	b.p = mpb.New(mpb.WithOutput(b.w), mpb.WithWidth(32), mpb.WithAutoRefresh())
	b.bytes = b.p.AddBar(total,
		mpb.PrependDecorators(
			decor.Name("downloading "),
			decor.Any(func(decor.Statistics) string {
				return itoa(b.files.Load()) + "/" + itoa(int64(b.total)) + " files "
			}),
		),
		mpb.AppendDecorators(
			decor.CountersKibiByte("% .1f / % .1f "),
			decor.AverageSpeed(decor.SizeB1024(0), "% .1f "),
			decor.AverageETA(decor.ET_STYLE_MMSS),
		),
	)
}

func (b *bar) Add(n int64)          { b.bytes.IncrInt64(n) }
func (b *bar) FileDone(path string) { b.files.Add(1) }
func (b *bar) Finish() {
	if b.p == nil {
		return
	}
	b.bytes.SetTotal(-1, true)
	b.p.Wait()
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
