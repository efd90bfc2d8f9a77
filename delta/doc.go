// Package delta creates and applies binary deltas (patches) between an old
// and a new version of a file.
//
// Two formats share one applier, which detects the format from the header:
//
//   - v1 is byte-compatible with the original MicroPython updater's
//     "OTADELTA" format: COPY/NEW/END opcodes with LEB128 varints, at most
//     4096 bytes per COPY and 2048 per NEW.
//   - v2 is this project's format: bsdiff-style approximate matches found
//     with a suffix array, coded as (diff, extra, seek) operations in a single
//     adaptive binary range-coded stream with separate context models for
//     control numbers, difference bytes (context mixing with the old bytes
//     as context) and literal bytes (with a match model over recent output).
//     The header carries the size and SHA-256 of both the old and the new file.
//
// See docs/delta-format.md for the byte-level description and test vectors.
//
// Invariants of Apply, for any patch, including hostile ones:
//   - the patch is read front to back exactly once, the old file only through
//     io.ReaderAt, the output is written front to back; memory use (about
//     1 MiB of v2 model state, 4 KiB for v1, plus small I/O buffers) does
//     not depend on the file sizes;
//   - a v2 patch made for a different old file (size or SHA-256) is refused
//     before any output byte is written (ErrWrongBase);
//   - output never exceeds the v2 header's new size nor ApplyOptions.MaxOutput;
//   - malformed input yields an error (wrapping ErrCorrupt for format errors),
//     never a panic or an endless loop;
//   - the output's SHA-256 is computed while writing and checked against the
//     v2 header and ApplyOptions.ExpectSHA256 (ErrHashMismatch). Because
//     output is streamed, a caller must treat the written bytes as garbage
//     unless Apply returns nil (write to a temporary file, rename on success).
//
// Diff holds both files in memory (it runs on developer machines); its peak
// memory is about 10 bytes per byte of the old file plus the new file.
package delta
