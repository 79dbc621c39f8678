# Benchmarks: `make bench` (BENCH_MB=N to change the size). They print figures and
# ratios against this machine's ceilings; they are not part of `make test`.
BENCH_MB ?= 1024
BENCH_BINS := $(B)/tests/bench/bench_target $(B)/tests/bench/bench_cr

$(B)/tests/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

bench: $(BIN) $(BENCH_BINS) $(BENCH_EXTRA)
	$(B)/tests/bench/bench_cr --mb $(BENCH_MB) --criu $(BIN) --target $(B)/tests/bench/bench_target
