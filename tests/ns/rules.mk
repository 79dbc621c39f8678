# tests/ns: criu-lite's namespace and mount tests (included by the Makefile).
#   make B=... ns-tests                 build nsrun and the programs, run tests/ns/cases
#   make B=... ns-tests NS_ARGS="--only ns_pid --mode dump"
# The programs run inside containers on roots of their own: linked statically.

ns_saved_goal := $(if $(.DEFAULT_GOAL),$(.DEFAULT_GOAL),all)

NS_DIR    := tests/ns
NS_OUT    := $(B)/tests/ns
NS_SRCS   := $(wildcard $(NS_DIR)/static/*.c)
NS_BINS   := $(patsubst $(NS_DIR)/static/%.c,$(NS_OUT)/static/%,$(NS_SRCS))
# integration programs run inside a container too (fds whose objects the root task makes)
NS_FROM_INTEGRATION := tree_ipc unix_stream unix_dgram unix_scm lock_posix lock_ofd lock_flock
NS_BINS   += $(patsubst %,$(NS_OUT)/static/%,$(NS_FROM_INTEGRATION))
NS_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-missing-field-initializers -D_GNU_SOURCE -Itests/integration/lib
NS_ARGS   ?=

$(NS_OUT)/static/%: $(NS_DIR)/static/%.c $(wildcard tests/integration/lib/*.c tests/integration/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(NS_CFLAGS) -static -o $@ $< tests/integration/lib/ztest.c -lpthread

$(patsubst %,$(NS_OUT)/static/%,$(NS_FROM_INTEGRATION)): $(NS_OUT)/static/%: tests/integration/static/%.c \
		$(wildcard tests/integration/lib/*.c tests/integration/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(NS_CFLAGS) -static -o $@ $< tests/integration/lib/ztest.c -lpthread

$(NS_OUT)/nsrun: $(NS_DIR)/nsrun.c
	@mkdir -p $(dir $@)
	$(CC) $(NS_CFLAGS) -o $@ $<

ns-bins: $(NS_BINS) $(NS_OUT)/nsrun

ns-tests: $(BIN) ns-bins
	/usr/bin/python3 $(NS_DIR)/run.py --criu $(BIN) --bindir $(NS_OUT) --cases $(NS_DIR)/cases \
		--workdir $(NS_OUT)/work $(NS_ARGS)

EXTRA_TESTS += ns-tests
.PHONY: ns-tests ns-bins

.DEFAULT_GOAL := $(ns_saved_goal)
