# Sluice. `make test` is what CI runs (.ci/run); README.md documents the rest.
GO ?= go
BIN := bin/sluice
PKGS := ./...

.PHONY: build test lint bench run soak fuzz clean test-java

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/sluice

# The README's test command: every package under the race detector, with
# the short scenario and crash sets. Long runs are in `make soak`.
test: lint
	$(GO) test -race -count=1 -timeout 25m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# An agent on the embedded default config: POST JSON to 127.0.0.1:44444 and
# watch the logger output (see README).
run: build
	$(BIN) agent --default

# Long crash, chaos and simulation runs; not part of CI.
soak:
	SLUICE_SOAK=1 $(GO) test -race -count=1 -timeout 3h $(PKGS)

# Compares the Java properties parser with java.util.Properties itself
# (needs a JDK; not part of CI).
test-java:
	SLUICE_JAVA=1 $(GO) test -count=1 -run TestJavaDifferential ./engine/config

clean:
	rm -rf bin
