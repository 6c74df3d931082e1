# make dist: one self-contained executable, dist/joey, made by `deno compile`.
# It embeds the TypeScript, the .proto files, the native libraries and the
# guest kernel/initrd that exist in build/; dist/containerd-shim-joey-v2 is the
# same file under the shim's name (the program tells shim invocations by their
# arguments). `make install` installs it instead of the launchers when it exists.
#
# deno compile needs Deno's `denort` runtime of the same version: DENORT_BIN
# names a local copy; otherwise Deno downloads it from its own download host,
# which these machines cannot reach. Then this stops with a message saying so,
# and `make install` keeps working with the launcher.

# make install / make dist and their tests use these (mkfifo for `joey run`,
# script(1) for its terminal test, git for the install test's clean checkout).
APT_PACKAGES += coreutils tar git util-linux

DIST_DIR := $(CURDIR)/dist
DIST_BIN := $(DIST_DIR)/joey
DENORT_CACHE := $(DENO_DIR)/dl/release/v$(DENO_VERSION)/denort-x86_64-unknown-linux-gnu.zip
DIST_INCLUDE := proto $(wildcard $(BUILD_DIR)/os/libjoeyos.so $(BUILD_DIR)/vmm/libjoeyvmm.so \
	$(BUILD_DIR)/guest/kernel/bzImage $(BUILD_DIR)/guest/*.img $(BUILD_DIR)/guest/*.cpio.gz \
	$(BUILD_DIR)/guest/*/initrd*)

.PHONY: dist dist-only
dist: build dist-only

# dist-only: the compile step alone (tests use it on an already built tree).
dist-only: $(DENO)
	@mkdir -p $(DIST_DIR)
	@if [ -n "$$DENORT_BIN" ] && [ ! -x "$$DENORT_BIN" ]; then \
	  echo "make dist: DENORT_BIN=$$DENORT_BIN is not an executable file" >&2; exit 1; fi
	@log=$$(mktemp); \
	if timeout 180 $(DENO) compile -A --no-check --quiet --output $(DIST_BIN).tmp \
	    $(foreach f,$(DIST_INCLUDE),--include $(f)) main.ts >$$log 2>&1; then \
	  mv -f $(DIST_BIN).tmp $(DIST_BIN); rm -f $$log; \
	else \
	  rm -f $(DIST_BIN).tmp; \
	  echo "make dist: deno compile failed:" >&2; sed 's/^/  /' $$log >&2; rm -f $$log; \
	  if [ -z "$$DENORT_BIN" ] && [ ! -f "$(DENORT_CACHE)" ]; then \
	    echo "make dist: deno compile needs Deno's runtime 'denort' $(DENO_VERSION) (x86_64-unknown-linux-gnu)." >&2; \
	    echo "  DENORT_BIN is not set and Deno could not download denort: this machine cannot" >&2; \
	    echo "  reach Deno's download host. Set DENORT_BIN=/path/to/denort (the same version as" >&2; \
	    echo "  $(DENO)) and run make dist again. make install still works: without dist/joey" >&2; \
	    echo "  it installs launchers that run main.ts on the pinned Deno." >&2; \
	  fi; \
	  exit 1; \
	fi
	@ln -f $(DIST_BIN) $(DIST_DIR)/containerd-shim-joey-v2
	@echo "make dist: $(DIST_BIN) ($$(du -h $(DIST_BIN) | cut -f1)) and $(DIST_DIR)/containerd-shim-joey-v2"
