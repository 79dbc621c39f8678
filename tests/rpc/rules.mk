# tests/rpc: criu-lite swrk (CRIU's RPC protocol) against a client of our own, and the
# real container runtimes where they can already get somewhere (included by the
# Makefile before its own rules).
#   make B=... rpc-tests                  every case (about 5 s)
#   make B=... rpc-tests RPC_ARGS="-f dump_restore_lazy"
#   make B=... runc-tests                 runc 1.1.5 with --criu build/criu-lite
# The target program links only libc and is never built with sanitizers: it is what
# gets checkpointed.
rpc_saved_goal := $(if $(.DEFAULT_GOAL),$(.DEFAULT_GOAL),all)

RPC_DIR    := tests/rpc
RPC_TARGET := $(B)/tests/rpc/rpc_target
RPC_ARGS   ?=

$(RPC_TARGET): $(RPC_DIR)/rpc_target.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

rpc-tests: $(BIN) $(RPC_TARGET)
	/usr/bin/python3 $(RPC_DIR)/test_rpc.py --criu $(BIN) --target $(RPC_TARGET) $(RPC_ARGS)

EXTRA_TESTS += rpc-tests
.PHONY: rpc-tests
.DEFAULT_GOAL := $(rpc_saved_goal)
