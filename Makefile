# Makefile — builds libphasewatt and libphasewatt-analysis, the phasewatt CLI, the tests and
# the benchmarks. Every .c under src/ goes into one of the two libraries (RT_SRC: the runtime
# a profiled program links; the rest: the analysis); every .c under tools/phasewatt/ into the CLI;
# every .c under tests/ into one test runner; every bench/*.c is its own benchmark;
# examples/llm/*.c is phasewatt-llm, the reference inference engine.

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O2 -g
SAN     ?=
JOBS    ?= 2

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE -MMD -MP
CFLAGS  += -std=c11 $(WARN) $(OPT) $(SAN) -fPIC -pthread
LDLIBS  += -lm -ldl -pthread
LDFLAGS += $(SAN)

# The system's flavour of shared libraries (macOS: .dylib with an install name, and no GNU ld
# options), and libmicrohttpd where its header is found: without it `serve` is a one-line
# message on how to get it (tools/phasewatt/serve_missing.c).
# A library exports only its header's PW_API functions (tools/abi-list): ld64 takes them as an
# exported-symbols list, GNU ld as a version script.
ifeq ($(shell uname -s),Darwin)
SO           := dylib
soname        = -Wl,-install_name,$(PREFIX)/lib/$(1).0.dylib
lib_names     = $(1).0.dylib $(1).dylib
EXPORT_FORM  := darwin
export_flag   = -Wl,-exported_symbols_list,$(1)
NVTX_EXPORTS := -Wl,-exported_symbol,_InitializeInjectionNvtx2
BREW         := $(shell brew --prefix 2>/dev/null)
CPPFLAGS     += $(if $(BREW),-I$(BREW)/include)
LDFLAGS      += $(if $(BREW),-L$(BREW)/lib)
else
SO           := so
soname        = -Wl,-soname,$(1).so.0
lib_names     = $(1).so.$(VERSION) $(1).so.0 $(1).so
EXPORT_FORM  := map
export_flag   = -Wl,--version-script=$(1)
NVTX_EXPORTS := -Wl,--version-script=tools/nvtx/exports.map
endif
HAVE_MHD := $(shell printf '\043include <microhttpd.h>\n' | $(CC) $(filter-out -MMD -MP,$(CPPFLAGS)) -E -x c - >/dev/null 2>&1 && echo 1)
MHD_LIBS := $(if $(HAVE_MHD),-lmicrohttpd)

# The version is the public header's PW_VERSION_MAJOR.MINOR.PATCH: one place to change it.
VERSION := $(shell sed -n -e 's/^\#define PW_VERSION_MAJOR \([0-9]*\)$$/\1/p' \
             -e 's/^\#define PW_VERSION_MINOR \([0-9]*\)$$/\1/p' \
             -e 's/^\#define PW_VERSION_PATCH \([0-9]*\)$$/\1/p' include/phasewatt.h | paste -sd. -)

LIB_SRC   := $(sort $(shell find src -name '*.c'))
# The runtime: names, tags, rings, the channel, the session, the sources and the trace
# format; the synthetic source (in sim/) brings the scenario language and the sensor models.
RT_SRC    := $(sort $(wildcard src/base/*.c src/core/*.c src/sources/*.c src/trace/*.c src/platform/*.c) \
               src/sim/scenario.c src/sim/sensor.c src/sim/synthetic.c)
AN_SRC    := $(filter-out $(RT_SRC),$(LIB_SRC))
CLI_SRC   := $(filter-out tools/phasewatt/$(if $(HAVE_MHD),serve_missing,cmd_serve).c,\
               $(sort $(wildcard tools/phasewatt/*.c)))
TEST_SRC  := $(sort $(wildcard tests/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
FAKE_SRC  := $(sort $(wildcard tests/fakes/*.c))
LLM_SRC   := $(sort $(wildcard examples/llm/*.c))
PROG_SRC  := $(sort $(wildcard tests/progs/*.c))
# Fuzz targets (fuzz/X.c): in the test runner as plain functions, and with libFuzzer's
# entry point as build/fuzz/bin/fuzz-X (`make fuzz`); the checkpoint target needs the
# engine's loader, so the test runner links the engine without its main.
FUZZ_SRC  := $(sort $(wildcard fuzz/*.c))
FUZZ_NAMES := $(filter-out seeds,$(patsubst fuzz/%.c,%,$(FUZZ_SRC)))
LLM_CORE_SRC := $(filter-out examples/llm/main.c,$(LLM_SRC))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ   := $(call obj,$(LIB_SRC))
RT_OBJ    := $(call obj,$(RT_SRC))
AN_OBJ    := $(call obj,$(AN_SRC))
CLI_OBJ   := $(call obj,$(CLI_SRC))
TEST_OBJ  := $(call obj,$(TEST_SRC) $(FUZZ_SRC) $(LLM_CORE_SRC))
LLM_OBJ   := $(call obj,$(LLM_SRC))

LIB_A   := $(BUILD)/lib/libphasewatt.a
LIB_SO  := $(BUILD)/lib/libphasewatt.$(SO)
AN_A    := $(BUILD)/lib/libphasewatt-analysis.a
AN_SO   := $(BUILD)/lib/libphasewatt-analysis.$(SO)
AN_H    := include/phasewatt-analysis.h
# The CLI, tests and benchmarks use internals: they link both archives (analysis first).
ARCHIVES := $(AN_A) $(LIB_A)
CLI     := $(BUILD)/bin/phasewatt
# The NVTX tool library: the runtime's objects plus tools/nvtx, exporting one symbol.
NVTX_SO := $(BUILD)/lib/libphasewatt-nvtx.$(SO)
LLM     := $(BUILD)/bin/phasewatt-llm
TESTS   := $(BUILD)/bin/phasewatt-tests
BENCHES := $(patsubst bench/%.c,$(BUILD)/bin/bench-%,$(BENCH_SRC))
PC      := $(BUILD)/lib/pkgconfig/phasewatt.pc
AN_PC   := $(BUILD)/lib/pkgconfig/phasewatt-analysis.pc
# Fake vendor libraries the tests load through the real dlopen path (tests/fakes/X.c ->
# build/fakes/X.so), e.g. a fake libnvidia-ml.
FAKES   := $(patsubst tests/fakes/%.c,$(BUILD)/fakes/%.so,$(FAKE_SRC))
# Programs the tests record from outside (tests/progs/X.c -> build/progs/X), linked with
# the library like a user's program.
PROGS   := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(PROG_SRC))

.PHONY: all deps lib cli llm tests bench test asan tsan clang lint check check-stress fuzz fuzzers demo compare-archs install clean
all: deps lib cli llm $(PC) $(AN_PC)

# Debian packages the build needs (tools/install-deps installs them as root, else says how).
deps:
	@tools/install-deps build
$(LIB_OBJ) $(CLI_OBJ): | deps
SO_LINKS := $(if $(filter so,$(SO)),$(LIB_SO).0 $(AN_SO).0)
lib: $(LIB_A) $(LIB_SO) $(AN_A) $(AN_SO) $(SO_LINKS) $(NVTX_SO)
cli: $(CLI)
llm: $(LLM)
tests: deps $(TESTS) $(CLI) $(LLM) $(LIB_SO) $(AN_SO) $(SO_LINKS) $(NVTX_SO) $(FAKES) $(PROGS)
bench: deps $(BENCHES) $(CLI) $(LLM) $(LIB_SO) $(NVTX_SO)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The libraries' code is hidden unless its header marks it PW_API.
$(BUILD)/obj/src/%.o: CFLAGS += -fvisibility=hidden

$(BUILD)/obj/tests/%.o: CPPFLAGS += -DPW_BUILD_DIR='"$(abspath $(BUILD))"' -DPW_SOURCE_DIR='"$(CURDIR)"'
$(BUILD)/obj/fuzz/%.o: CPPFLAGS += -DPW_SOURCE_DIR='"$(CURDIR)"'
$(BUILD)/obj/fuzz/%.main.o: fuzz/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DPW_FUZZ_MAIN -c $< -o $@
# bench-hotpath times NVTX ranges when the CUDA toolkit's nvtx3 headers are present.
NVTX_INCLUDE ?= $(wildcard /usr/local/cuda/include)
$(BUILD)/obj/bench/%.o: CPPFLAGS += -DPW_SOURCE_DIR='"$(CURDIR)"' $(if $(NVTX_INCLUDE),-isystem $(NVTX_INCLUDE))

$(LIB_A): $(RT_OBJ)
$(AN_A): $(AN_OBJ)
$(LIB_A) $(AN_A):
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# Each library's export list, from the functions its header marks PW_API; a header not
# written yet exports nothing.
RT_EXPORTS := $(BUILD)/lib/phasewatt.$(EXPORT_FORM)
AN_EXPORTS := $(BUILD)/lib/phasewatt-analysis.$(EXPORT_FORM)
$(RT_EXPORTS): include/phasewatt.h tools/abi-list
$(AN_EXPORTS): $(wildcard $(AN_H)) tools/abi-list
$(RT_EXPORTS) $(AN_EXPORTS):
	@mkdir -p $(dir $@)
	tools/abi-list $(if $(filter $(RT_EXPORTS),$@),include/phasewatt.h,$(AN_H)) $(EXPORT_FORM) > $@

$(LIB_SO): $(RT_OBJ) $(RT_EXPORTS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) $(call soname,libphasewatt) $(call export_flag,$(RT_EXPORTS)) \
	  -o $@ $(RT_OBJ) $(LDLIBS)

# The analysis carries the part of the runtime it calls (the trace reader), hidden in it.
$(AN_SO): $(AN_OBJ) $(LIB_A) $(AN_EXPORTS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) $(call soname,libphasewatt-analysis) \
	  $(call export_flag,$(AN_EXPORTS)) -o $@ $(AN_OBJ) $(LIB_A) $(LDLIBS)

# The soname next to each library, so programs linked with -Lbuild/lib -lphasewatt start
# with LD_LIBRARY_PATH=build/lib.
$(BUILD)/lib/%.so.0: $(BUILD)/lib/%.so
	ln -sf $*.so $@

$(NVTX_SO): $(BUILD)/obj/tools/nvtx/injection.o $(RT_OBJ) tools/nvtx/exports.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) $(NVTX_EXPORTS) -o $@ \
	  $(BUILD)/obj/tools/nvtx/injection.o $(RT_OBJ) $(LDLIBS)

# serve's HTTP is libmicrohttpd (Debian's libmicrohttpd-dev); the library does not need it.
$(CLI): $(CLI_OBJ) $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MHD_LIBS)

$(LLM): $(LLM_OBJ) $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TESTS): $(TEST_OBJ) $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/progs/%: $(BUILD)/obj/tests/progs/%.o $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fakes stand in for vendor libraries and the C library; built without sanitizers, so a
# preloaded one also loads into the uninstrumented programs a recording starts.
$(BUILD)/fakes/%.so: tests/fakes/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out $(SAN),$(CFLAGS)) -shared -o $@ $< -ldl

# ---- libphasewatt-llama: the llama.cpp shim `record --llama` preloads (docs/llama.md) ----
# The runtime's objects plus tools/llama, exporting only the llama.cpp functions it wraps.
# Its tests drive a fake libllama (tests/fakes/libllama.c) from programs linked with it
# like a llama.cpp program (tests/progs/llama_*.c), built without sanitizers like the fakes.
# Linux only (GNU ld's version script, LD_PRELOAD). build/lib also gets the SONAME link
# libphasewatt.so.0, so that programs linked with -lphasewatt from the tree start.
ifneq ($(SO),dylib)
LLAMA_SO := $(BUILD)/lib/libphasewatt-llama.$(SO)
LLAMA_FAKE := $(BUILD)/fakes/libllama.$(SO)
lib: $(LLAMA_SO)
tests: $(LLAMA_SO)
LLAMA_OBJ := $(call obj,$(sort $(wildcard tools/llama/*.c)))
$(LLAMA_SO): $(LLAMA_OBJ) $(RT_OBJ) tools/llama/exports.map
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,--version-script=tools/llama/exports.map -o $@ \
	  $(LLAMA_OBJ) $(RT_OBJ) $(LDLIBS)
$(BUILD)/fakes/libllama.so: CFLAGS += -Wl,-soname,libllama.so
$(BUILD)/fakes/libllama.so: CPPFLAGS += -Itools/llama
$(BUILD)/progs/llama_%: $(BUILD)/obj/tests/progs/llama_%.o $(LLAMA_FAKE)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< -Wl,-rpath,$(abspath $(BUILD)/fakes) $(LLAMA_FAKE)
$(BUILD)/obj/tests/progs/llama_%.o: tests/progs/llama_%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out $(SAN),$(CFLAGS)) -Itools/llama -c $< -o $@
endif

$(BUILD)/bin/bench-%: $(BUILD)/obj/bench/%.o $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# pkg-config: $(1) the library, $(2) what it is, $(3) a Requires line or nothing.
write_pc = printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: $(1)\nDescription: $(2)\nVersion: %s\n$(3)Libs: -L$${libdir} -l$(1)\nLibs.private: -lm -ldl -pthread\nCflags: -I$${includedir}\n' '$(PREFIX)' '$(VERSION)'
$(PC): Makefile
	@mkdir -p $(dir $@)
	$(call write_pc,phasewatt,Phase-tagged power and energy profiler: the runtime a profiled program links) > $@
$(AN_PC): Makefile
	@mkdir -p $(dir $@)
	$(call write_pc,phasewatt-analysis,Phase-tagged power and energy profiler: reading and attributing traces,Requires: phasewatt\n) > $@

$(BUILD)/bin/fuzz-%: $(BUILD)/obj/fuzz/%.main.o $(BUILD)/obj/fuzz/seeds.o $(call obj,$(LLM_CORE_SRC)) $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
fuzzers: deps $(patsubst %,$(BUILD)/bin/fuzz-%,$(FUZZ_NAMES))

# Every fuzz target under libFuzzer (clang) with ASan+UBSan for FUZZ_SECONDS each, starting
# from the seeds the tests write and the crash regressions in tests/fuzz/TARGET/; a crash
# stops the run and leaves its input in build/fuzz/crashes/ (make it a regression test).
FUZZ_SECONDS ?= 30
FUZZ_SAN = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
fuzz: tests
	$(MAKE) -j$(JOBS) CC=clang BUILD=build/fuzz OPT="-O1 -g -fno-omit-frame-pointer" SAN="$(FUZZ_SAN)" fuzzers
	PW_FUZZ_SEEDS=$(abspath build/fuzz/seeds) $(TESTS) fuzz_targets
	@mkdir -p build/fuzz/crashes
	@for t in $(FUZZ_NAMES); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  regress=; [ -d tests/fuzz/$$t ] && regress=tests/fuzz/$$t; \
	  echo "fuzz-$$t: $(FUZZ_SECONDS) s"; \
	  if ! build/fuzz/bin/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	      -print_final_stats=1 -artifact_prefix=build/fuzz/crashes/$$t- \
	      build/fuzz/corpus/$$t build/fuzz/seeds/$$t $$regress > build/fuzz/$$t.log 2>&1; then \
	    tail -n 60 build/fuzz/$$t.log; echo "fuzz-$$t FAILED: see build/fuzz/crashes/"; exit 1; fi; \
	  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' build/fuzz/$$t.log | tr '\n' ' '; echo; \
	done

# The test runner forks each test; its last line is "N passed, N failed[, N skipped]".
test: tests
	$(TESTS) $(T)

asan:
	$(MAKE) -j$(JOBS) BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

tsan:
	$(MAKE) -j$(JOBS) BUILD=build/tsan OPT="-O1 -g" SAN="-fsanitize=thread" test

# The whole tree under clang's warnings too (gcc is the default compiler).
clang:
	$(MAKE) -j$(JOBS) CC=clang BUILD=build/clang all tests bench

# Static analysis: no include cycle between src/'s files or folders (tools/include-cycles, the
# layers of docs/architecture.md), cppcheck (suppressions and why in tools/cppcheck-suppressions.txt) and
# clang-tidy (checks and why in .clang-tidy) over everything but the tests, with the build's
# defines; any finding fails. cppcheck runs whole-program (no -j) so it follows calls across
# files; clang-tidy runs a file per process.
LINT_SRC := $(sort $(shell find src tools examples bench fuzz -name '*.c'))
LINT_DEFS = -D_GNU_SOURCE -DPW_SOURCE_DIR='"$(CURDIR)"'
lint:
	tools/include-cycles --self-test
	tools/include-cycles src
	cppcheck -q --error-exitcode=1 --inline-suppr --std=c11 -I include -I src $(LINT_DEFS) \
	  --enable=warning,style,performance,portability \
	  --suppressions-list=tools/cppcheck-suppressions.txt src tools examples bench fuzz
	@echo "clang-tidy: $(words $(LINT_SRC)) files, $(JOBS) at a time"
	@printf '%s\n' $(LINT_SRC) | xargs -P$(JOBS) -I{} clang-tidy --quiet {} -- \
	  -std=c11 -Iinclude -Isrc $(LINT_DEFS) -pthread $(if $(NVTX_INCLUDE),-isystem $(NVTX_INCLUDE))

# Everything CI runs (tools/check): the plain tests, clang's build, the linters, every fuzzer
# for FUZZ_SECONDS (30 by default), ASan+UBSan, then TSan. A part that cannot run here fails
# the check with a one-line reason unless skipped by name: SKIP=fuzz,browser,… (parts: test
# clang lint fuzz asan tsan browser valgrind prometheus python). The last line lists what
# ran and what was skipped. FUZZ_RUNTIME is the libFuzzer runtime the fuzz probe looks for;
# unset, tools/check asks clang after installing it (on a fresh system clang comes later).
check:
	@MAKE="$(MAKE)" CC="$(CC)" SKIP="$(SKIP)" FUZZ_RUNTIME="$(FUZZ_RUNTIME)" tools/check

# The plain tests under two CPU hogs, started with SIGHUP, SIGINT and SIGQUIT ignored (as
# under nohup or as a script's background job): nothing in the suite may depend on either.
check-stress: tests
	@echo "check-stress: the tests under 2 CPU hogs with SIGHUP, SIGINT and SIGQUIT ignored"
	@hogs=; trap 'kill $$hogs 2>/dev/null' EXIT; \
	  for i in 1 2; do sh -c 'while :; do :; done' & hogs="$$hogs $$!"; done; \
	  (trap '' HUP INT QUIT; $(TESTS) $(T))

# The main job: profile the reference inference engine, print the phase table and write
# the HTML report with its plots (demo.html); the model's text goes to demo.txt.
demo: all
	@$(LLM) -q --text demo.txt -o demo.pwt
	@$(CLI) report demo.pwt --depth 2
	@$(CLI) plot demo.pwt -o demo.html
	@echo "wrote demo.pwt (the trace), demo.html (the report with its plots) and demo.txt (the model's text)"

# Every architecture preset on the same prompt, then their comparison (the first is the
# baseline).
compare-archs: all
	@mkdir -p $(BUILD)/compare
	@for arch in $$($(LLM) --list-archs | awk 'NR > 1 { print $$1 }'); do \
	  $(LLM) -q --arch $$arch -o $(BUILD)/compare/$$arch.pwt || exit 1; \
	  set -- "$$@" $(BUILD)/compare/$$arch.pwt; \
	done; $(CLI) compare "$$@" && $(CLI) plot "$$@" -o $(BUILD)/compare/compare.html

# The libraries under the system's names (lib_names: on Linux libphasewatt.so.VERSION, with
# .so.0 and .so linked to it; the same for libphasewatt-analysis).
# Into a directory the dynamic loader searches (/usr/local/lib, /usr/lib), ldconfig then
# refreshes its cache so programs start at once; elsewhere (or with DESTDIR) it says which
# LD_LIBRARY_PATH to set.
LIBDIR = $(PREFIX)/lib
install_so = install -m 755 $(1) $(DESTDIR)$(LIBDIR)/$(firstword $(call lib_names,$(2))) && \
  for l in $(wordlist 2,9,$(call lib_names,$(2))); do \
    ln -sf $(firstword $(call lib_names,$(2))) $(DESTDIR)$(LIBDIR)/$$l; done
install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/phasewatt.h include/phasewatt-analysis.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 644 $(AN_A) $(DESTDIR)$(LIBDIR)/
	$(call install_so,$(LIB_SO),libphasewatt)
	$(call install_so,$(AN_SO),libphasewatt-analysis)
	install -m 755 $(NVTX_SO) $(DESTDIR)$(LIBDIR)/
	$(if $(LLAMA_SO),install -m 755 $(LLAMA_SO) $(DESTDIR)$(LIBDIR)/)
	for pc in $(PC) $(AN_PC); do \
	  sed 's|^prefix=.*|prefix=$(PREFIX)|' $$pc > $(DESTDIR)$(LIBDIR)/pkgconfig/$${pc##*/}; done
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	@if [ -z "$(DESTDIR)" ] && { ldconfig -v -N 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p'; \
	    echo /lib; echo /usr/lib; } | grep -qx '$(LIBDIR)'; then echo ldconfig; ldconfig; \
	  else echo "note: ldconfig not run ($(if $(DESTDIR),staged under DESTDIR,$(LIBDIR) is not in the" \
	    "dynamic loader's path)): run programs linked with -lphasewatt with" \
	    "LD_LIBRARY_PATH=$(LIBDIR), or link libphasewatt.a"; fi

# The Python package (docs/python.md) into $(PYTHON)'s site directory (PY_SITE overrides),
# pointed at the library and CLI installed above; skipped, saying so, where pip is missing.
PYTHON  ?= python3
PY_SITE ?= $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("platlib"))' 2>/dev/null)
.PHONY: install-python
install: install-python
install-python: all
	@if $(PYTHON) -m pip --version >/dev/null 2>&1; then \
	  PHASEWATT_BUNDLE=0 PHASEWATT_INSTALL_LIBRARY='$(PREFIX)/lib/libphasewatt.so.0' \
	  PHASEWATT_INSTALL_CLI='$(PREFIX)/bin/phasewatt' $(PYTHON) -m pip install --no-deps \
	  --no-index --quiet --upgrade --target '$(DESTDIR)$(PY_SITE)' ./bindings/python; \
	else echo "install: no pip for $(PYTHON): the Python package is not installed (docs/python.md)"; fi

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
