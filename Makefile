# virtlxcd build, run and test entry points. See README.md.
GO      ?= go
VERSION := $(shell cat VERSION)
LDFLAGS := -s -w -X github.com/virtlxcd/virtlxcd/pkg/version.Version=$(VERSION)
BIN     := build
RUNDIR  ?= $(CURDIR)/run

export CGO_ENABLED = 0

.PHONY: all build run test test-deps vet clean bench compat packages

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# Start the daemon in the foreground with every file below $(RUNDIR).
run: build
	@scripts/run-local.sh $(BIN)/virtlxcd $(RUNDIR)

# Install what the tests need (Debian packages) and run every test.
test: test-deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 80m ./...

test-deps:
	@scripts/install-test-deps.sh

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s -timeout 20m ./bench/...

# The same virsh command lines against Debian's libvirtd 9.0 and ours;
# writes compat/REPORT.md. Needs bench/install-deps.sh. Not part of test.
compat: build
	VIRTLXCD_COMPAT=1 $(GO) test -count=1 -v -run '^TestCompat$$' -timeout 20m ./compat/

clean:
	rm -rf $(BIN) dist run

# Manual pages: manpages/*.rst rendered with rst2man (python3-docutils),
# stamped with VERSION, into $(BIN)/NAME.8 and $(BIN)/NAME.8.gz.
.PHONY: man
man:
	$(GO) run ./packaging/cmd/mkpkg man -version $(VERSION) -out $(BIN) $(sort $(wildcard manpages/*.rst))

# dist/virtlxcd_$(VERSION)-1_amd64.deb and dist/virtlxcd-$(VERSION)-1.x86_64.rpm
# from packaging/nfpm.yaml (nfpm as a library, see packaging/pkgbuild).
packages: build man
	$(GO) run ./packaging/cmd/mkpkg packages -version $(VERSION) -release 1 -build $(BIN) -out dist
