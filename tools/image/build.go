package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nonRoot is the user and group the image runs as.
const nonRoot = 65532

// binaryPath is where the binary lives in the image.
const binaryPath = "/usr/local/bin/coalmine"

// epoch is every file's modification time, so that the same binary gives
// the same image digest.
var epoch = time.Unix(0, 0).UTC()

// runBuild writes the image as an OCI layout folder and as a tarball that
// docker load and podman load accept.
func runBuild(args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	bin := fs.String("binary", "", "the static coalmine binary (CGO_ENABLED=0)")
	out := fs.String("out", "dist/coalmine-image", "OCI layout folder to write; OUT.tar gets the tarball")
	ref := fs.String("ref", "coalmine:dev", "image name and tag")
	arch := fs.String("arch", runtime.GOARCH, "the binary's architecture")
	caFile := fs.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to ship (Debian: package ca-certificates)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tag, err := name.NewTag(*ref)
	if err != nil {
		return fmt.Errorf("-ref %q: %w", *ref, err)
	}
	img, err := buildImage(*bin, *caFile, *arch, tag.TagStr())
	if err != nil {
		return err
	}
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	p, err := layout.Write(*out, empty.Index)
	if err != nil {
		return fmt.Errorf("write OCI layout %s: %w", *out, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag.TagStr()})); err != nil {
		return fmt.Errorf("write OCI layout %s: %w", *out, err)
	}
	if err := tarball.WriteToFile(*out+".tar", tag, img); err != nil {
		return fmt.Errorf("write tarball %s.tar: %w", *out, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("image %s (%s) in %s (OCI layout, tag %s) and %s.tar (docker/podman load)\n", tag, digest, *out, tag.TagStr(), *out)
	return nil
}

// buildImage is the one-layer image of the binary.
func buildImage(bin, caFile, arch, version string) (v1.Image, error) {
	layerTar, err := rootFS(bin, caFile)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make the layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "coalmine tools/image", Created: v1.Time{Time: epoch}}})
	if err != nil {
		return nil, fmt.Errorf("add the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Created = "linux", arch, v1.Time{Time: epoch}
	cfg.Config = v1.Config{
		Entrypoint: []string{binaryPath},
		User:       fmt.Sprintf("%d:%d", nonRoot, nonRoot),
		WorkingDir: "/home/nonroot",
		Env: []string{
			"PATH=/usr/local/bin",
			"HOME=/home/nonroot",
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "coalmine",
			"org.opencontainers.image.version": version,
		},
	}
	return mutate.ConfigFile(img, cfg)
}

// rootFS is the layer's tar: folders, the binary, CA certificates and the user.
func rootFS(bin, caFile string) ([]byte, error) {
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read the binary (-binary): %w", err)
	}
	certs, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the CA bundle (-ca-certificates; Debian: apt-get install ca-certificates): %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []struct {
		path string
		mode int64
		uid  int
	}{
		{"etc/", 0o755, 0}, {"etc/ssl/", 0o755, 0}, {"etc/ssl/certs/", 0o755, 0},
		{"home/", 0o755, 0}, {"home/nonroot/", 0o700, nonRoot},
		{"tmp/", 0o1777, 0},
		{"usr/", 0o755, 0}, {"usr/local/", 0o755, 0}, {"usr/local/bin/", 0o755, 0},
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.path, Mode: d.mode, Uid: d.uid, Gid: d.uid, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	files := []struct {
		path string
		mode int64
		data []byte
	}{
		{"etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonRoot))},
		{"etc/passwd", 0o644, []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonRoot, nonRoot))},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, certs},
		{binaryPath[1:], 0o755, binary},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
