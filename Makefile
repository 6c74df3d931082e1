# joey — build, test, demo, bench, install.
# Each area adds its own rules in mk/<area>.mk (build targets to BUILD_TARGETS,
# Debian packages to APT_PACKAGES); this file only holds the shared frame.

SHELL := /bin/bash
.DEFAULT_GOAL := build

DENO_VERSION := 2.9.6
TOOLS_DIR := $(CURDIR)/.tools
DENO := $(TOOLS_DIR)/bin/deno
BUILD_DIR := $(CURDIR)/build
PREFIX ?= /usr/local
export DENO_DIR := $(CURDIR)/.cache/deno
export DENO_NO_UPDATE_CHECK := 1
export JOEY_DENO := $(DENO)

CC ?= gcc
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -fPIC
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# The packages every part needs; mk/*.mk fragments add their own.
APT_PACKAGES := containerd runc crun iproute2 busybox-static gcc make libc6-dev
BUILD_TARGETS :=

include $(sort $(wildcard mk/*.mk))

.PHONY: setup deps deno build test demo bench fmt lint check install uninstall clean dist

## setup: install missing Debian packages and the pinned Deno (project-local)
setup: deps deno

deps:
	@bash scripts/apt_install.sh $(sort $(APT_PACKAGES))

deno: $(DENO)

$(DENO):
	@bash scripts/install_deno.sh "$(DENO_VERSION)" "$(TOOLS_DIR)"

## build: every native library, guest artefact and the Deno module cache
build: setup $(BUILD_TARGETS) deno-cache

deno-cache: $(DENO)
	@$(DENO) install --quiet --frozen 2>/dev/null || $(DENO) install --quiet
	@touch $(BUILD_DIR)/.deno-cache 2>/dev/null || true

## test: every suite under tests/suites, summed into one line
test: build
	@bash tests/run.sh

## demo: a container through a private containerd and the joey shim
demo: build
	@$(DENO) run -A scripts/demo.ts

## bench: benchmarks (ONLY=<id prefix> selects some) into bench/results/
bench: build
	@$(DENO) run -A bench/main.ts $(if $(ONLY),--only $(ONLY),)

fmt: $(DENO)
	@$(DENO) fmt

lint: $(DENO)
	@$(DENO) fmt --check && $(DENO) lint

check: $(DENO)
	@$(DENO) task check

## install / uninstall: joey and containerd-shim-joey-v2 into PREFIX/bin
install: build
	@bash scripts/install.sh "$(PREFIX)" "$(CURDIR)" "$(DENO)"

uninstall:
	@bash scripts/uninstall.sh "$(PREFIX)"

clean:
	rm -rf $(BUILD_DIR)
