# tests/rpc: criu-lite swrk (CRIU's RPC protocol) against a client of our own, and the
# real container runtimes checkpointing and restoring containers through it (included
# by the Makefile before its own rules).
#   make B=... rpc-tests                  every case of our own client (about 5 s)
#   make B=... rpc-tests RPC_ARGS="-f dump_restore_lazy"
#   make B=... rpc-runtime-tests          runc 1.1.5 (--criu) and podman 4.3 (criu in PATH)
#   make B=... rpc-install-test           make install into a staging dir, then VERSION via `criu`
# The Makefile installs runc, podman and busybox-static for these goals (and test, asan).
# The target program links only libc and is never built with sanitizers: it is what
# gets checkpointed.
rpc_saved_goal := $(if $(.DEFAULT_GOAL),$(.DEFAULT_GOAL),all)

RPC_DIR    := tests/rpc
RPC_TARGET := $(B)/tests/rpc/rpc_target
RPC_ARGS   ?=
RPC_STAGE  := $(abspath $(B))/tests/rpc/install

$(RPC_TARGET): $(RPC_DIR)/rpc_target.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

rpc-tests: $(BIN) $(RPC_TARGET)
	/usr/bin/python3 $(RPC_DIR)/test_rpc.py --criu $(BIN) --target $(RPC_TARGET) $(RPC_ARGS)

rpc-runtime-tests: $(BIN)
	/usr/bin/python3 $(RPC_DIR)/test_runc.py --criu $(BIN) $(RPC_ARGS)
	/usr/bin/python3 $(RPC_DIR)/test_podman.py --criu $(BIN) $(RPC_ARGS)

rpc-install-test: $(BIN) $(RPC_TARGET)
	rm -rf $(RPC_STAGE)
	$(MAKE) --no-print-directory B=$(B) install DESTDIR=$(RPC_STAGE)
	test "$$(readlink $(RPC_STAGE)/usr/local/sbin/criu)" = criu-lite
	cmp $(BIN) $(RPC_STAGE)/usr/local/sbin/criu-lite
	/usr/bin/python3 $(RPC_DIR)/test_rpc.py --criu $(RPC_STAGE)/usr/local/sbin/criu --target $(RPC_TARGET) \
		-f version -f feature_check
	rm -rf $(RPC_STAGE)

EXTRA_TESTS += rpc-tests rpc-runtime-tests rpc-install-test
.PHONY: rpc-tests rpc-runtime-tests rpc-install-test
.DEFAULT_GOAL := $(rpc_saved_goal)
