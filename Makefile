# lua-cloudbase-functions: build, test, demo and bench.
# Every knob is ?= so a packager (or the rockspec) can override it.

# Which Lua: LUA_VERSION=5.1 | 5.2 | 5.3 | 5.4 (the default) | jit (LuaJIT 2.1).
# LUA_PKG=luajit says the same as LUA_VERSION=jit. Each one builds into build/<LUA_VERSION>/
# and installs into lib/lua/<its ABI>/ (5.1 for LuaJIT), so the builds never mix.
ifeq ($(LUA_PKG),luajit)
LUA_VERSION ?= jit
endif
LUA_VERSION ?= 5.4
# the pkg-config name of a LUA_VERSION value, which Debian also gives its interpreter
lua_pkg = $(if $(filter jit,$(1)),luajit,lua$(1))
LUA_PKG ?= $(call lua_pkg,$(LUA_VERSION))
LUA ?= $(LUA_PKG)
LUA_ID = $(if $(filter luajit,$(LUA_PKG)),jit,$(LUA_VERSION))
LUA_ABI ?= $(if $(filter jit,$(LUA_ID)),5.1,$(LUA_VERSION))
PKG_CONFIG ?= pkg-config
LUA_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(LUA_PKG) 2>/dev/null)
CURL_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS ?= $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null || echo -lcurl)
CC ?= cc
OPTFLAGS ?= -O2 -g
WARNFLAGS ?= -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= $(OPTFLAGS)
# Hidden by default: the module exports only luaopen_cloudbase_functions (CBF_EXPORT).
VISIBILITY ?= -fvisibility=hidden
ALL_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -fPIC $(VISIBILITY) $(WARNFLAGS) $(LUA_CFLAGS) $(CURL_CFLAGS) $(CFLAGS)
LIBFLAG ?= -shared
LDFLAGS ?=
PREFIX ?= /usr/local
DESTDIR ?=
INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_ABI)
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_ABI)
BINDIR ?= $(PREFIX)/bin
BUILD ?= build/$(LUA_ID)
BUSTED ?= $(LUA) /usr/bin/busted

# `make test` runs the module's specs once per interpreter in TEST_LUAS, each against its
# own build. The specs of code that runs inside nginx (spec/gateway/: the emulator;
# spec/nginx/: the module's LuaJIT build in ngx_lua) test nginx's LuaJIT whatever drives
# them: they run with the interpreters in TEST_NGINX_LUAS.
# Naming one Lua or build on the command line (LUA_VERSION=, LUA_PKG=, LUA=, BUILD=) runs
# the whole suite with just that one: `make test BUILD=x` loads x/cloudbase/functions.so.
ifneq ($(filter command,$(origin LUA_VERSION) $(origin LUA_PKG) $(origin LUA) $(origin BUILD)),)
TEST_LUAS ?= $(LUA_ID)
TEST_NGINX_LUAS ?=
TEST_RUNS ?= nginx:$(LUA)=$(BUILD) $(LUA)=$(BUILD)
endif
TEST_LUAS ?= 5.1 5.2 5.3 5.4 jit
TEST_NGINX_LUAS ?= 5.4
TEST_RUNS ?= $(foreach v,$(TEST_NGINX_LUAS),nginx:$(call lua_pkg,$(v))=build/$(v)) \
	$(foreach v,$(TEST_LUAS),$(call lua_pkg,$(v))=build/$(v))

SRCS = $(wildcard src/*.c)
OBJS = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
MODULE = $(BUILD)/cloudbase/functions.so

# Debian packages each target needs; `make deps-*` installs only what is missing.
# lua_debs: a LUA_VERSION's interpreter and headers. LuaJIT is luajit2 (the OpenResty
# flavour): never luajit or libluajit-5.1-dev, which remove nginx's Lua module.
lua_debs = $(if $(filter jit,$(1)),luajit2 libluajit2-5.1-dev,lua$(1) liblua$(1)$(if $(filter 5.1,$(1)),-0)-dev)
DEPS_BUILD = gcc make pkg-config libcurl4-openssl-dev $(call lua_debs,$(LUA_ID))
DEPS_RUN = nginx-light libnginx-mod-http-lua openssl curl lua-socket lua-cjson lua-argparse
DEPS_TEST = lua-busted lua-check valgrind luarocks locales nodejs lua-luv time bsdutils \
	$(foreach v,$(sort $(TEST_LUAS) $(TEST_NGINX_LUAS)),$(call lua_debs,$(v)))
DEPS_BENCH = wrk procps lua5.1 lua-sec lua-http
DEPS_FUZZ = clang libclang-rt-14-dev
# The nginx suite (spec/nginx) loads a LuaJIT build of the module into ngx_lua. Debian's
# libluajit2-5.1-dev, never libluajit-5.1-dev: that one removes libnginx-mod-http-lua.
DEPS_NGINX = libluajit2-5.1-dev
NGINX_BUILD ?= build/jit

ROCKSPEC ?= rockspec/lua-cloudbase-functions-0.1.0-1.rockspec

.PHONY: all install nginx-module rock test demo bench lint valgrind asan clean deps-build deps-test deps-demo deps-bench
.PHONY: fuzz fuzz-build fuzz-smoke soak deps-fuzz

all: $(MODULE)

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(MODULE): $(OBJS) | $(BUILD)/cloudbase
	$(CC) $(LIBFLAG) $(LDFLAGS) -o $@ $(OBJS) $(CURL_LIBS) -lpthread

$(BUILD)/obj $(BUILD)/cloudbase:
	mkdir -p $@

install: $(MODULE)
	install -d $(DESTDIR)$(INST_LIBDIR)/cloudbase
	install -m 0755 $(MODULE) $(DESTDIR)$(INST_LIBDIR)/cloudbase/functions.so
	install -d $(DESTDIR)$(BINDIR)
	sed '1s|^#!.*|#!/usr/bin/env $(LUA)|' bin/cloudbase-fn > $(DESTDIR)$(BINDIR)/cloudbase-fn
	chmod 0755 $(DESTDIR)$(BINDIR)/cloudbase-fn
	install -d $(DESTDIR)$(INST_LUADIR)/cloudbase/functions
	install -m 0644 lua/cloudbase/functions/ngx.lua $(DESTDIR)$(INST_LUADIR)/cloudbase/functions/ngx.lua

# The LuaJIT build that ngx_lua loads (the nginx spec suite, the OpenResty example); by
# default the same as `make LUA_VERSION=jit`.
nginx-module:
	@$(MAKE) --no-print-directory LUA_VERSION=jit BUILD=$(NGINX_BUILD) all

# Build and install through LuaRocks into a local tree, offline, and load it from there.
# LuaRocks knows Lua versions only: LuaJIT is its 5.1, built with LuaJIT's headers.
# luarocks builds in a copy of the sources, so its products never land in the checkout.
ROCK_VARS = $(if $(filter jit,$(LUA_ID)),LUA_INCDIR=$(patsubst -I%,%,$(filter -I%,$(LUA_CFLAGS))))
rock: deps-test
	rm -rf $(BUILD)/rock-src && mkdir -p $(BUILD)/rock-src && cp -r src lua rockspec bin $(BUILD)/rock-src/
	cd $(BUILD)/rock-src && luarocks --lua-version $(LUA_ABI) --tree $(CURDIR)/.rocks make --deps-mode=none $(ROCKSPEC) $(ROCK_VARS)
	rm -rf $(BUILD)/rock-src
	$(LUA) -e 'package.cpath = ".rocks/lib/lua/$(LUA_ABI)/?.so;" .. package.cpath' \
	  -e 'local f = require "cloudbase.functions"; print("loaded cloudbase.functions " .. f.version .. " from .rocks")'

deps-build:
	@./bin/install-deps $(DEPS_BUILD)
deps-demo: deps-build
	@./bin/install-deps $(DEPS_RUN)
deps-test: deps-demo
	@./bin/install-deps $(DEPS_TEST) $(DEPS_NGINX)
deps-bench: deps-demo
	@./bin/install-deps $(DEPS_BENCH)
deps-fuzz: deps-build
	@./bin/install-deps $(DEPS_FUZZ)

# The busted suite against real gateways on loopback, on every interpreter (see TEST_LUAS);
# ends with one line "N passed, N failed" over all the runs.
test: deps-test deps-fuzz
	@$(foreach v,$(sort $(TEST_LUAS) $(TEST_NGINX_LUAS)),$(MAKE) --no-print-directory LUA_VERSION=$(v) all &&) true
	@$(MAKE) --no-print-directory nginx-module
	@$(MAKE) --no-print-directory fuzz-smoke
	@./spec/run-all $(TEST_RUNS)

demo: deps-demo
	@$(MAKE) --no-print-directory all
	@LUA="$(LUA)" MODULE_BUILD=$(BUILD) ./examples/run-demo

# The non-blocking examples, each against its own local gateway (examples/run NAME):
# make example-frame_loop, make example-luv_loop, make example-coroutines
example-%: deps-test
	@$(MAKE) --no-print-directory all
	@LUA="$(LUA)" BUILD="$(BUILD)" ./examples/run $*

# BENCH=net runs only the network part (TLS through the latency proxy), BENCH=loopback
# only the loopback part, BENCH=cpu only the CPU-per-call table, BENCH=callgrind
# instructions per call against raw libcurl; see bench/README.md.
BENCH ?= all
bench: deps-bench
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory nginx-module
	@BENCH="$(BENCH)" ./bench/run

# 1M calls through invoke and 1M through invoke_all against a local gateway; fails when
# RSS grows more than SOAK_MAX_GROWTH_MB (8) after warm-up (bench/soak.lua). Minutes long.
soak: deps-test
	@$(MAKE) --no-print-directory all
	@$(LUA) bench/soak.lua

lint: deps-test
	luacheck --quiet spec examples bench gateway lua bin/cloudbase-fn fuzz

# The spec suite under valgrind's memcheck: the summary must say "definitely lost: 0".
valgrind: deps-test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory nginx-module
	@MODULE_BUILD=$(BUILD) BUSTED="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 $(LUA) /usr/bin/busted" ./spec/run

# The module and a small Lua host, both built with ASan/UBSan, run the spec suite; the
# host closes its state at exit so LeakSanitizer sees anything the module did not free.
# A 16 MB quarantine: ASan's default 256 MB of held-back freed memory shows up as RSS in
# the command line's bounded-memory spec.
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer
asan: deps-test
	@$(MAKE) --no-print-directory nginx-module
	@$(MAKE) --no-print-directory BUILD=build-asan OPTFLAGS="-O1 -g $(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" all
	$(CC) -std=c99 -O1 -g $(ASAN_FLAGS) $(WARNFLAGS) $(LUA_CFLAGS) spec/support/lua_host.c \
	  -o build-asan/lua_host $(shell $(PKG_CONFIG) --libs $(LUA_PKG))
	@ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=16 LSAN_OPTIONS=suppressions=$(CURDIR)/spec/support/lsan.supp:print_suppressions=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  MODULE_BUILD=build-asan SPEC_LUA=build-asan/lua_host BUSTED="build-asan/lua_host /usr/bin/busted" ./spec/run

# libFuzzer targets (fuzz/README.md): the module's objects rebuilt with clang, ASan and
# UBSan, linked with fuzz/driver.c into one binary per fuzz/<target>.lua.
FUZZ_CC ?= clang
FUZZ_BUILD = build-fuzz
FUZZ_TARGETS ?= json_roundtrip process prepare
FUZZ_TIME ?= 60
FUZZ_SMOKE_TIME ?= 25
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OBJS = $(SRCS:src/%.c=$(FUZZ_BUILD)/obj/%.o)

fuzz-build: deps-fuzz
	@$(MAKE) -s --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
	  OPTFLAGS="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_OBJS)
	@for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_CC) -std=c99 -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) $(WARNFLAGS) $(LUA_CFLAGS) \
	    -DFUZZ_DIR='"$(CURDIR)/fuzz"' -DFUZZ_TARGET="\"$$t\"" fuzz/driver.c $(FUZZ_OBJS) \
	    -o $(FUZZ_BUILD)/$$t $(shell $(PKG_CONFIG) --libs lua$(LUA_VERSION)) $(CURL_LIBS) -lpthread \
	    || exit 1; \
	done

# Each target for FUZZ_TIME seconds, one after the other.
fuzz: fuzz-build
	@./fuzz/run $(FUZZ_TIME) $(FUZZ_TARGETS)

# Each target briefly (part of `make test`), so a crash-class regression fails CI.
fuzz-smoke: fuzz-build
	@./fuzz/run $(FUZZ_SMOKE_TIME) $(FUZZ_TARGETS)

clean:
	rm -rf build build-asan $(FUZZ_BUILD) .rocks cloudbase src/*.o
