package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFile is the persisted form of every route's admin-set state.
type stateFile struct {
	Version int                   `json:"version"`
	Routes  map[string]RouteState `json:"routes"`
}

const stateFileVersion = 1

// loadState reads persisted state; a missing file is an empty state. It
// first removes the temporary files that a gateway killed during a write
// left behind (saveState's; one gateway owns a state file).
func loadState(path string) (map[string]RouteState, error) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	for _, f := range stale {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove a temporary state file left by an interrupted write: %w", err)
		}
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]RouteState{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read gateway state %s: %w", path, err)
	}
	return decodeState(data, path)
}

// decodeState parses and validates a state document; where names its
// source in errors.
func decodeState(data []byte, where string) (map[string]RouteState, error) {
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse gateway state %s: %w", where, err)
	}
	if f.Version != stateFileVersion {
		return nil, fmt.Errorf("gateway state %s: unsupported version %d", where, f.Version)
	}
	if f.Routes == nil {
		f.Routes = map[string]RouteState{}
	}
	for name, st := range f.Routes {
		if fe := validateState(&st); fe != nil {
			return nil, fmt.Errorf("gateway state %s: route %s: %s: %s", where, name, fe.Field, fe.Error)
		}
	}
	return f.Routes, nil
}

// saveState writes state atomically: a temporary file in the same folder,
// fsync, rename over the old file, fsync of the folder. A crash leaves
// either the old or the new state, never a torn file.
func saveState(path string, routes map[string]RouteState) error {
	data, err := json.MarshalIndent(stateFile{Version: stateFileVersion, Routes: routes}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode gateway state: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save gateway state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save gateway state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save gateway state: fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save gateway state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save gateway state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save gateway state: open folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save gateway state: fsync folder: %w", err)
	}
	return nil
}
