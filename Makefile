# pyxring — build, test, demo, benchmarks.
#   make        build everything in place (Cython extensions, XDP program, kernel module)
#   make demo   set up a fresh Debian 12 machine and run the built-in demo capture
#   make test   set up a fresh Debian 12 machine and run the whole test suite
#   make bench  run the benchmarks beside tcpdump & co. (results in bench/results/)
#   make soak   10^7 frames through every backend, nothing lost or leaked (bench/results/soak.md)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SYSPY ?= /usr/bin/python3
BUILD := build
APT_STAMP := $(BUILD)/.apt-$(shell cksum < apt-packages.txt | cut -d' ' -f1)
PIP_STAMP := $(VENV)/.pip-$(shell cksum < requirements.txt | cut -d' ' -f1)
PYX := $(shell find pyxring -name '*.pyx' -o -name '*.pxd' -o -name '*.h' -o -name '*_helpers.c') \
       $(wildcard xdp_prog/*.h) $(wildcard kmod/*.h) setup.py
PYTEST_ARGS ?=

.PHONY: all setup build xdp kmod test demo kmod-test bench soak clean

all: build xdp kmod

# --- set-up: apt packages, then a virtual environment with the pip packages ---
$(APT_STAMP): apt-packages.txt
	@mkdir -p $(BUILD)
	@pkgs=$$(grep -v '^#' apt-packages.txt | xargs); \
	if dpkg-query -W -f='$${Status}\n' $$pkgs 2>/dev/null | grep -qv 'install ok installed' \
	   || [ $$(dpkg-query -W -f='$${Status}\n' $$pkgs 2>/dev/null | wc -l) -ne $$(echo $$pkgs | wc -w) ]; then \
	  echo "setup: installing Debian packages"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  SUDO=$$( [ $$(id -u) = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$pkgs >/dev/null; \
	fi
	@touch $@

$(PIP_STAMP): $(APT_STAMP) requirements.txt
	@[ -x $(PY) ] || $(SYSPY) -m venv --system-site-packages $(VENV)
	@echo "setup: installing Python packages into $(VENV)"
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

setup: $(PIP_STAMP)

# --- build ---
$(BUILD)/.ext-stamp: $(PIP_STAMP) $(PYX)
	@$(PY) setup.py -q build_ext --inplace -j 2 2>&1 | grep -v -E '^(Compiling|\[|warning: .*Cython)' || true
	@$(PY) -c 'import pyxring._core' || { echo "build: Cython extensions failed"; exit 1; }
	@touch $@

# `pyxring` on the venv's PATH and the work tree importable from anywhere: a
# .pth entry and a launcher (the in-place extensions are what runs; a pip
# editable install would compile everything a second time)
$(VENV)/.editable: $(PIP_STAMP)
	@echo "$(CURDIR)" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/pyxring-worktree.pth"
	@printf '#!%s\nimport sys\nfrom pyxring.cli import main\nsys.exit(main())\n' "$(abspath $(PY))" > $(VENV)/bin/pyxring
	@chmod +x $(VENV)/bin/pyxring
	@touch $@

build: $(BUILD)/.ext-stamp $(VENV)/.editable

xdp: $(APT_STAMP)
	@if [ -f xdp_prog/Makefile ]; then $(MAKE) -s -C xdp_prog; fi

kmod: $(APT_STAMP)
	@if [ -f kmod/Makefile ]; then $(MAKE) -s -C kmod; fi

# --- the two commands of the README ---
demo: build xdp
	$(PY) -m pyxring demo

test: build xdp kmod
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests

kmod-test: build kmod
	$(PY) -m pytest -ra $(PYTEST_ARGS) tests/test_kmod_qemu.py

bench: build xdp
	$(PY) -m bench.run $(BENCH_ARGS)
	$(PY) -m bench.duel $(DUEL_ARGS)
	$(PY) -m bench.profile_sender
	$(PY) -m bench.files $(FILES_ARGS)
	$(PY) -m bench.columns $(COLUMNS_ARGS)
	$(PY) -m bench.talkers $(TALKERS_ARGS)
	$(PY) -m bench.replay $(REPLAY_ARGS)
	$(PY) -m bench.writer $(WRITER_BENCH_ARGS)
	$(PY) -m bench.printing
	$(PY) -m bench.workers $(WORKERS_BENCH_ARGS)
	$(PY) -m bench.stream $(STREAM_BENCH_ARGS)

# not part of `make test`: about an hour, as root, on an otherwise idle machine
soak: build xdp kmod
	$(PY) -m bench.soak $(SOAK_ARGS)
	$(PY) kmod/qemu/run.py --overflow-seconds 180 --timeout 600

clean:
	rm -rf $(BUILD) pyxring/*.so pyxring/*/*.so pyxring/*.c pyxring/*/*.c *.egg-info
	@if [ -f xdp_prog/Makefile ]; then $(MAKE) -s -C xdp_prog clean; fi
	@if [ -f kmod/Makefile ]; then $(MAKE) -s -C kmod clean; fi

# --- the file reader's fuzzer for longer than in `make test` (atheris, fixed seed) ---
FUZZ_SECONDS ?= 600
.PHONY: fuzz
fuzz: build
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(PY) -m pytest -ra tests/test_fuzz_reader.py
