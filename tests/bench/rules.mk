# Benchmarks: `make bench` (BENCH_SIZES="1024 4096" in MiB). They print figures and
# ratios against this machine's ceilings; they are not part of `make test`.
BENCH_SIZES ?= 1024 4096
BENCH_BINS := $(B)/tests/bench/bench_target $(B)/tests/bench/bench_cr

$(B)/tests/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

bench: $(BIN) $(BENCH_BINS) $(UFFD_BIN)
	@echo "== userfaultfd floor and the lazy-pages engine (tests/uffd)"
	$(UFFD_BIN) -b
	@for mb in $(BENCH_SIZES); do \
		echo "== dump, eager and lazy restore of $$mb MiB"; \
		$(B)/tests/bench/bench_cr --mb $$mb --criu $(BIN) --target $(B)/tests/bench/bench_target || exit 1; \
	done
