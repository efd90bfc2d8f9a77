package cli

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the terminal the CLI talks to. Tests build one over buffers.
type IOStreams struct {
	In       io.Reader
	Out, Err io.Writer
	// ErrTTY says whether Err is a terminal (progress bars go there).
	ErrTTY bool
}

// System returns the process's streams.
func System() *IOStreams {
	tty := term.IsTerminal(int(os.Stderr.Fd())) && os.Getenv("TERM") != "dumb"
	return &IOStreams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, ErrTTY: tty}
}
