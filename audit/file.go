package audit

import (
	"fmt"
	"os"
	"sync"
)

// File is an audit sink appending to the file at a path. It is opened
// write-only, append-only and created 0600: audit lines name users and
// their addresses. Reopen opens the path again, so after logrotate
// renamed the file (its "create" mode, not copytruncate) the next line
// starts the new one; the gateway calls it on SIGHUP.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenFile opens path for appending audit lines, creating it 0600.
func OpenFile(path string) (*File, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit file: %w", err)
	}
	return f, nil
}

// Write appends p in one write: slog handlers hand over one whole line
// per call, so lines never interleave.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Write(p)
}

// Reopen opens the path anew and writes there from now on. When the
// path cannot be opened the current file stays in use and the error is
// returned, so no line is lost to a failed rotation.
func (f *File) Reopen() error {
	nf, err := openAppend(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.f
	f.f = nf
	f.mu.Unlock()
	if err := old.Close(); err != nil {
		return fmt.Errorf("audit file: close the rotated file: %w", err)
	}
	return nil
}

// Close closes the file; later writes fail.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Close()
}
