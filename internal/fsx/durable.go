package fsx

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteTemp streams write into a new, uniquely named temporary file in dir
// on the real filesystem, fsyncs and closes it and gives it perm. It
// returns the file's name for the caller to rename or link into place;
// on any error the file is removed. It is the one streaming durable writer
// of the host-side tools (the publisher, `ota delta`); on the device every
// write goes through an FS instead.
func WriteTemp(dir string, perm fs.FileMode, write func(io.Writer) error) (name string, err error) {
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return "", err
	}
	if err = tmp.Sync(); err != nil {
		return "", err
	}
	if err = tmp.Chmod(perm); err != nil {
		return "", err
	}
	if err = tmp.Close(); err != nil {
		return "", err
	}
	return tmp.Name(), nil
}

// WriteFileStream durably replaces name with what write produces: a
// temporary file in the same folder (WriteTemp), renamed over name, then
// the folder fsynced. On any error name is left as it was.
func WriteFileStream(name string, perm fs.FileMode, write func(io.Writer) error) error {
	tmp, err := WriteTemp(filepath.Dir(name), perm, write)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDirPath(filepath.Dir(name))
}
