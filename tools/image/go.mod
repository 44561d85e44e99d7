// Module image builds coalmine's OCI image without a container daemon and
// checks it by unpacking its layers. It is a module of its own so that
// go-containerregistry stays out of coalmine's dependencies. See the
// Makefile target image.
module github.com/coalmine-dev/coalmine/tools/image

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
