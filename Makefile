# criu-lite: one Makefile.
#   make          install missing Debian packages, build build/criu-lite
#   make test     build and run every test (what the README and .ci/run call)
#   make asan     build in build-san/ with ASan+UBSan and run the tests
#   make bench    run the benchmarks in tests/bench
#   make demo     dump a sample program and restore it
#   make install  criu-lite and a `criu` link to it in /usr/local/sbin (PREFIX, DESTDIR)
# B=DIR puts every output in DIR (default build/).

B        ?= build
.DEFAULT_GOAL := all
CC       ?= gcc
SAN      ?=
OPT      ?= -O2

# xxd embeds the restorer blob; python3 runs the integration runner and is one of
# the real programs the tests checkpoint (/usr/bin/python3).
# Only what the code uses is linked: libnl and libseccomp come with the code that
# needs them (sock_diag and links; the daemon's sandbox and seccomp restore).
DEB_PKGS := protobuf-c-compiler libprotobuf-c-dev libcap-dev check pkg-config xxd binutils \
            python3-minimal libnl-3-dev libnl-route-3-dev
PKGS     := libprotobuf-c libcap libnl-3.0 libnl-route-3.0
# The container runtimes the RPC tests drive (tests/rpc): only for the goals that run them.
CONTAINER_PKGS := runc podman busybox-static
ifneq ($(filter test asan rpc-runtime-tests,$(MAKECMDGOALS)),)
DEB_PKGS += $(CONTAINER_PKGS)
endif
# The sockets: sock_diag through libnl (criu-lite/files/netdiag.c; sockdiag.c for unix ones), the network
# lock's tools (criu-lite/netlock.c), the real server their tests checkpoint (redis).
DEB_PKGS += libnl-3-dev iptables nftables redis-server
PKGS     += libnl-3.0

# Install what is missing before anything else is evaluated (we are root on
# the build machines; a developer machine without root gets a clear message).
ifeq ($(filter clean fmt,$(MAKECMDGOALS)),)
DEPS_MISSING := $(shell for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)
ifneq ($(strip $(DEPS_MISSING)),)
$(info installing missing packages: $(DEPS_MISSING))
DEPS_RC := $(shell (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS_MISSING)) >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error could not install $(DEPS_MISSING) (apt-get exit $(DEPS_RC)); install them and run make again)
endif
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
CHECK_LIBS := $(shell pkg-config --libs check)
CHECK_CFLAGS := $(shell pkg-config --cflags check)
endif

WARN    := -Wall -Wextra -Werror -Wstrict-prototypes -Wformat=2 -Wno-missing-field-initializers
CFLAGS  := -std=gnu11 $(OPT) -g $(WARN) -D_GNU_SOURCE -I. -I$(B) $(PKG_CFLAGS) $(SAN) $(EXTRA_CFLAGS)
LDFLAGS := $(SAN) $(EXTRA_LDFLAGS)
LIBS    := $(PKG_LIBS) -lpthread

PROTOS     := $(wildcard images/*.proto)
PB_C       := $(patsubst images/%.proto,$(B)/images/%.pb-c.c,$(PROTOS))
PB_H       := $(PB_C:.c=.h)

# Files ending in -noasan.c call clone() with their own stack: no sanitizers.
LIB_SRCS   := $(wildcard criu-lite/*.c) $(wildcard criu-lite/files/*.c) $(wildcard criu-lite/ns/*.c) \
              $(wildcard lib/*.c) \
              $(wildcard lazy-pages/*.c) $(wildcard images/*.c)
# The command line: cli.o parses argv; main.o is only main(). Tests link cli.o too.
CLI_OBJS   := $(B)/obj/cli/cli.o
LIB_OBJS   := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRCS)) $(PB_C:.c=.o)
LIB        := $(B)/libcriulite.a
BIN        := $(B)/criu-lite

UNIT_SRCS  := $(wildcard tests/unit/check_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRCS))

# Fragments owned by the test suites and the restorer blob; they may add to
# EXTRA_TESTS, RESTORER_BLOB_H and their own targets.
-include tests/integration/rules.mk
-include tests/uffd/rules.mk
-include tests/bench/rules.mk
-include criu-lite/restorer/rules.mk
-include tests/demo/rules.mk
-include tests/rpc/rules.mk
-include tests/ns/rules.mk

all: $(BIN)

$(B)/images/%.pb-c.c $(B)/images/%.pb-c.h: images/%.proto
	@mkdir -p $(B)/images
	protoc-c --proto_path=images --c_out=$(B)/images $<

$(B)/images/%.pb-c.o: $(B)/images/%.pb-c.c $(PB_H)
	$(CC) $(filter-out -Wextra,$(CFLAGS)) -c $< -o $@

$(B)/obj/%-noasan.o: %-noasan.c $(PB_H) $(RESTORER_BLOB_H)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) -MMD -MP -c $< -o $@

$(B)/obj/%.o: %.c $(PB_H) $(RESTORER_BLOB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(B)/obj/cli/main.o $(CLI_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(CLI_OBJS) $(LIB) $(LIBS)

$(B)/tests/unit/%: tests/unit/%.c $(CLI_OBJS) $(LIB) $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -o $@ $< $(CLI_OBJS) $(LIB) $(LIBS) $(CHECK_LIBS) $(LDFLAGS)


unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

# The layering: no include or symbol cycle between modules, folders within their layers.
deps: $(LIB) $(CLI_OBJS) $(B)/obj/cli/main.o
	python3 tests/deps/check-deps.py $(B)/obj $(filter $(B)/obj/%,$(LIB_OBJS)) $(CLI_OBJS) $(B)/obj/cli/main.o

test: all deps unit $(EXTRA_TESTS)
	@echo "make test: all suites passed"

# criu-lite in $(SBINDIR), and `criu` beside it: what runc, podman and libcriu run
# (`criu swrk FD` from PATH). DESTDIR for staging.
PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/criu-lite
	ln -sfn criu-lite $(DESTDIR)$(SBINDIR)/criu

uninstall:
	@if [ "$$(readlink $(DESTDIR)$(SBINDIR)/criu)" = criu-lite ]; then rm -f $(DESTDIR)$(SBINDIR)/criu; fi
	rm -f $(DESTDIR)$(SBINDIR)/criu-lite

asan:
	$(MAKE) B=build-san OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# Format what changed since FMT_BASE (default: the last commit), never the code as it is.
FMT_BASE ?= HEAD
fmt:
	git clang-format --binary clang-format --extensions c,h $(FMT_BASE)

clean:
	rm -rf build build-san

.PHONY: all deps unit test asan fmt clean bench demo install uninstall
.SECONDARY:

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(B)/obj/cli/main.d
