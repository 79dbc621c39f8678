# tests/uffd: the lazy-pages engine against real userfaultfds (included by the
# Makefile before its own rules).
#   make B=... uffd-tests                 run every case
#   make B=... uffd-tests UFFD_ARGS="-f fork -v"
#   make B=... uffd-bench                 fault latency and prefetch bandwidth
# Keep the Makefile's default goal `all` (fragments come before `all:`).
uffd_saved_goal := $(if $(.DEFAULT_GOAL),$(.DEFAULT_GOAL),all)

UFFD_SRCS := tests/uffd/uffd_tests.c tests/uffd/uffd_bench.c
UFFD_BIN  := $(B)/tests/uffd/uffd_tests
UFFD_ARGS ?=

$(UFFD_BIN): $(UFFD_SRCS) tests/uffd/uffd_tests.h $(CLI_OBJS) $(LIB) $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(UFFD_SRCS) $(CLI_OBJS) $(LIB) $(LIBS) $(LDFLAGS)

uffd-tests: $(UFFD_BIN)
	$(UFFD_BIN) $(UFFD_ARGS)

uffd-bench: $(UFFD_BIN)
	$(UFFD_BIN) -b

EXTRA_TESTS += uffd-tests
.PHONY: uffd-tests uffd-bench
.DEFAULT_GOAL := $(uffd_saved_goal)
