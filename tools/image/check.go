package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// runCheck unpacks the image in an OCI layout folder into a temporary
// root, checks what a container runtime would enforce or rely on (non-root
// user, no shell, a static entrypoint), and runs `coalmine version` from
// the unpacked files with the image's environment.
func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	dir := fs.String("layout", "dist/coalmine-image", "OCI layout folder written by build")
	if err := fs.Parse(args); err != nil {
		return err
	}
	img, err := firstImage(*dir)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("read the image config: %w", err)
	}
	if err := checkConfig(cfg.Config); err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "coalmine-image-root-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	if err := os.Chmod(root, 0o755); err != nil { // the image's / is world-readable
		return err
	}
	n, err := unpack(mutate.Extract(img), root)
	if err != nil {
		return fmt.Errorf("unpack the layers: %w", err)
	}
	for _, sh := range []string{"bin/sh", "bin/bash", "usr/bin/sh", "bin/busybox"} {
		if _, err := os.Lstat(filepath.Join(root, sh)); err == nil {
			return fmt.Errorf("the image has a shell: /%s", sh)
		}
	}
	entry := filepath.Join(root, cfg.Config.Entrypoint[0])
	if err := checkStatic(entry); err != nil {
		return err
	}
	cmd, how := versionCmd(root, cfg.Config)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("run %s version from the unpacked image: %w\n%s", cfg.Config.Entrypoint[0], err, out)
	}
	if !strings.HasPrefix(string(out), "coalmine ") {
		return fmt.Errorf("%s version printed %q, want \"coalmine <version>\"", cfg.Config.Entrypoint[0], out)
	}
	size, err := imageSize(img)
	if err != nil {
		return err
	}
	fmt.Printf("checked %s: %d files unpacked, user %s, no shell, static %s; `%s version` run from the unpacked layers (%s) printed: %s",
		*dir, n, cfg.Config.User, cfg.Config.Entrypoint[0], cfg.Config.Entrypoint[0], how, out)
	fmt.Printf("compressed layers: %.1f MiB\n", float64(size)/(1<<20))
	return nil
}

// versionCmd is `<entrypoint> version` from the unpacked root with the
// image's environment. As root it runs the way a container runtime would:
// chrooted into the image's files, as the image's user, in its working
// folder; otherwise it runs the unpacked binary as this user. how says which.
func versionCmd(root string, c v1.Config) (*exec.Cmd, string) {
	if uid, gid, ok := numericUser(c.User); ok && os.Geteuid() == 0 {
		cmd := exec.Command(c.Entrypoint[0], "version")
		cmd.Env = c.Env
		cmd.Dir = cmp.Or(c.WorkingDir, "/")
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		return cmd, fmt.Sprintf("chroot into the image's files, user %s, folder %s", c.User, cmd.Dir)
	}
	cmd := exec.Command(filepath.Join(root, c.Entrypoint[0]), "version")
	cmd.Env = c.Env
	cmd.Dir = root
	return cmd, "as this user, without chroot: not root"
}

// numericUser parses "uid:gid".
func numericUser(user string) (uid, gid uint32, ok bool) {
	u, g, found := strings.Cut(user, ":")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(u, 10, 32)
	b, err2 := strconv.ParseUint(g, 10, 32)
	return uint32(a), uint32(b), err1 == nil && err2 == nil
}

// firstImage is the image of the layout's index.
func firstImage(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("open OCI layout %s (run make image first): %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("OCI layout %s holds %d images, want 1", dir, len(m.Manifests))
	}
	return idx.Image(m.Manifests[0].Digest)
}

// checkConfig checks the runtime settings: a non-root numeric user and an entrypoint.
func checkConfig(c v1.Config) error {
	if c.User == "" || c.User == "0" || strings.HasPrefix(c.User, "0:") || c.User == "root" {
		return fmt.Errorf("the image runs as root (user %q)", c.User)
	}
	if len(c.Entrypoint) != 1 {
		return fmt.Errorf("the image's entrypoint is %q, want the binary alone", c.Entrypoint)
	}
	return nil
}

// checkStatic fails unless path is an ELF executable without an interpreter.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("entrypoint %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("entrypoint %s is dynamically linked: build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// unpack writes the flattened filesystem tar r under root and counts its entries.
func unpack(r io.ReadCloser, root string) (int, error) {
	defer r.Close()
	tr := tar.NewReader(r)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		target := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
			if err == nil {
				err = os.Chmod(target, fileMode(h.Mode))
			}
		case tar.TypeReg:
			err = writeFile(target, tr, os.FileMode(h.Mode)&0o777)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, target)
		default:
			err = fmt.Errorf("%s: unexpected entry type %q", h.Name, h.Typeflag)
		}
		if err == nil && os.Geteuid() == 0 {
			err = os.Lchown(target, h.Uid, h.Gid)
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// fileMode converts a tar mode with its sticky bit.
func fileMode(m int64) os.FileMode {
	mode := os.FileMode(m) & 0o777
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

func writeFile(path string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), mode)
}

// imageSize is the sum of the compressed layers' sizes.
func imageSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += s
	}
	return total, nil
}
