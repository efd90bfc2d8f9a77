// Command genpair writes a synthetic old/new file pair for delta benchmarks:
// OLD is SIZE bytes of seeded pseudo-random data, NEW is OLD with a small
// edit (replace, insert or delete up to 256 bytes) every ~64 KiB on average.
//
//	go run ./bench/genpair SIZE_MIB OLD NEW
package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: genpair SIZE_MIB OLD NEW")
		os.Exit(2)
	}
	mib, err := strconv.Atoi(os.Args[1])
	if err != nil || mib <= 0 {
		fmt.Fprintln(os.Stderr, "genpair: SIZE_MIB must be a positive integer")
		os.Exit(2)
	}
	if err := run(int64(mib)<<20, os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "genpair:", err)
		os.Exit(1)
	}
}

func run(size int64, oldPath, newPath string) error {
	rng := rand.New(rand.NewPCG(uint64(size), 42))
	of, err := os.Create(oldPath)
	if err != nil {
		return err
	}
	defer of.Close()
	nf, err := os.Create(newPath)
	if err != nil {
		return err
	}
	defer nf.Close()
	ow, nw := bufio.NewWriterSize(of, 1<<20), bufio.NewWriterSize(nf, 1<<20)
	buf := make([]byte, 4096)
	junk := make([]byte, 256)
	for written := int64(0); written < size; {
		n := min(int64(len(buf)), size-written)
		for i := range buf[:n] {
			buf[i] = byte(rng.Uint32())
		}
		ow.Write(buf[:n])
		out := buf[:n]
		if rng.IntN(16) == 0 { // one edit per 16 blocks of 4 KiB
			k := 1 + rng.IntN(len(junk))
			for i := range junk[:k] {
				junk[i] = byte(rng.Uint32())
			}
			pos := rng.IntN(int(n))
			switch rng.IntN(3) {
			case 0:
				out = append(append(append([]byte(nil), out[:pos]...), junk[:k]...), out[min(pos+k, int(n)):]...)
			case 1:
				out = append(append(append([]byte(nil), out[:pos]...), junk[:k]...), out[pos:]...)
			case 2:
				out = append(append([]byte(nil), out[:pos]...), out[min(pos+k, int(n)):]...)
			}
		}
		nw.Write(out)
		written += n
	}
	if err := ow.Flush(); err != nil {
		return err
	}
	return nw.Flush()
}
