# lua-cloudbase-functions: build, test, demo and bench.
# Every knob is ?= so a packager (or the rockspec) can override it.

LUA_VERSION ?= 5.4
LUA ?= lua$(LUA_VERSION)
PKG_CONFIG ?= pkg-config
LUA_PKG ?= lua$(LUA_VERSION)
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
INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_VERSION)
BINDIR ?= $(PREFIX)/bin
BUILD ?= build
BUSTED ?= $(LUA) /usr/bin/busted

SRCS = $(wildcard src/*.c)
OBJS = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
MODULE = $(BUILD)/cloudbase/functions.so

# Debian packages each target needs; `make deps-*` installs only what is missing.
DEPS_BUILD = gcc make pkg-config lua$(LUA_VERSION) liblua$(LUA_VERSION)-dev libcurl4-openssl-dev
DEPS_RUN = nginx-light libnginx-mod-http-lua openssl curl lua-socket lua-cjson lua-argparse
DEPS_TEST = lua-busted lua-check valgrind luarocks locales nodejs time bsdutils
DEPS_BENCH = wrk procps
# The nginx suite (spec/nginx) loads a LuaJIT build of the module into ngx_lua. Debian's
# libluajit2-5.1-dev, never libluajit-5.1-dev: that one removes libnginx-mod-http-lua.
DEPS_NGINX = libluajit2-5.1-dev
NGINX_BUILD ?= build-jit

ROCKSPEC ?= rockspec/lua-cloudbase-functions-0.1.0-1.rockspec

.PHONY: all install nginx-module rock test demo bench lint valgrind asan clean deps-build deps-test deps-demo deps-bench

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

# The LuaJIT build that ngx_lua loads (the nginx spec suite, the OpenResty example).
nginx-module:
	@$(MAKE) --no-print-directory LUA_PKG=luajit BUILD=$(NGINX_BUILD) all

# Build and install through LuaRocks into a local tree, offline, and load it from there.
# luarocks builds in a copy of the sources, so its products never land in the checkout.
rock: deps-test
	rm -rf $(BUILD)/rock-src && mkdir -p $(BUILD)/rock-src && cp -r src lua rockspec bin $(BUILD)/rock-src/
	cd $(BUILD)/rock-src && luarocks --lua-version $(LUA_VERSION) --tree $(CURDIR)/.rocks make --deps-mode=none $(ROCKSPEC)
	rm -rf $(BUILD)/rock-src
	$(LUA) -e 'package.cpath = ".rocks/lib/lua/$(LUA_VERSION)/?.so;" .. package.cpath' \
	  -e 'local f = require "cloudbase.functions"; print("loaded cloudbase.functions " .. f.version .. " from .rocks")'

deps-build:
	@./bin/install-deps $(DEPS_BUILD)
deps-demo: deps-build
	@./bin/install-deps $(DEPS_RUN)
deps-test: deps-demo
	@./bin/install-deps $(DEPS_TEST) $(DEPS_NGINX)
deps-bench: deps-demo
	@./bin/install-deps $(DEPS_BENCH)

# The whole busted suite against a real gateway on loopback; prints "N passed, N failed".
test: deps-test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory nginx-module
	@BUSTED="$(BUSTED)" ./spec/run

demo: deps-demo
	@$(MAKE) --no-print-directory all
	@LUA="$(LUA)" ./examples/run-demo

bench: deps-bench
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory nginx-module
	@./bench/run

lint: deps-test
	luacheck --quiet spec examples bench gateway lua bin/cloudbase-fn

# The spec suite under valgrind's memcheck: the summary must say "definitely lost: 0".
valgrind: deps-test
	@$(MAKE) --no-print-directory all
	@BUSTED="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 $(LUA) /usr/bin/busted" ./spec/run

# The module and a small Lua host, both built with ASan/UBSan, run the spec suite; the
# host closes its state at exit so LeakSanitizer sees anything the module did not free.
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer
asan: deps-test
	@$(MAKE) --no-print-directory BUILD=build-asan OPTFLAGS="-O1 -g $(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" all
	$(CC) -std=c99 -O1 -g $(ASAN_FLAGS) $(WARNFLAGS) $(LUA_CFLAGS) spec/support/lua_host.c \
	  -o build-asan/lua_host $(shell $(PKG_CONFIG) --libs lua$(LUA_VERSION))
	@ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/spec/support/lsan.supp:print_suppressions=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  MODULE_BUILD=build-asan SPEC_LUA=build-asan/lua_host BUSTED="build-asan/lua_host /usr/bin/busted" ./spec/run

clean:
	rm -rf $(BUILD) $(NGINX_BUILD) build-asan .rocks cloudbase src/*.o
