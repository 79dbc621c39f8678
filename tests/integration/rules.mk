# tests/integration: test programs and their runner (included by the Makefile
# before its own rules).
#   make B=... integration            build the programs and run the default case list
#   make B=... integration-bins       only build the programs
#   make B=... integration INTEG_ARGS="--only anon_mem --iters 5"
# The test programs link only libc/pthread (never libcriulite) and are never
# built with sanitizers: they are what gets checkpointed.

# Keep the Makefile's default goal `all`: the fragments are included before
# `all:`, so their first target would otherwise become the default.
integ_saved_goal := $(if $(.DEFAULT_GOAL),$(.DEFAULT_GOAL),all)

INTEG_DIR    := tests/integration
INTEG_OUT    := $(B)/tests/integration
INTEG_SRCS   := $(wildcard $(INTEG_DIR)/static/*.c)
INTEG_BINS   := $(patsubst $(INTEG_DIR)/static/%.c,$(INTEG_OUT)/static/%,$(INTEG_SRCS))
INTEG_LIBSRC := $(wildcard $(INTEG_DIR)/lib/*.c)
INTEG_LIBHDR := $(wildcard $(INTEG_DIR)/lib/*.h)
INTEG_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I$(INTEG_DIR)/lib
INTEG_CASES  ?= $(INTEG_DIR)/cases
INTEG_ARGS   ?=

$(INTEG_OUT)/static/%: $(INTEG_DIR)/static/%.c $(INTEG_LIBSRC) $(INTEG_LIBHDR)
	@mkdir -p $(dir $@)
	$(CC) $(INTEG_CFLAGS) -o $@ $< $(INTEG_LIBSRC) -lpthread

integration-bins: $(INTEG_BINS)

integration: $(BIN) $(INTEG_BINS)
	/usr/bin/python3 $(INTEG_DIR)/run.py --criu $(BIN) --bindir $(INTEG_OUT) \
		--cases $(INTEG_CASES) --workdir $(INTEG_OUT)/work $(INTEG_ARGS)

EXTRA_TESTS += integration
.PHONY: integration integration-bins

.DEFAULT_GOAL := $(integ_saved_goal)
