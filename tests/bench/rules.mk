# Benchmarks: `make bench` (BENCH_SIZES="1024 4096" in MiB). They print figures and
# ratios against this machine's ceilings; they are not part of `make test`.
#   make bench-ws      the working-set benchmark of issue 13 alone:
#                      BENCH_WS_SIZES="1024 4096" (MiB), BENCH_WS_REPS=3,
#                      BENCH_WS_ARGS (more bench_ws options, e.g. --workloads fixed)
#   quick (under a minute): make bench-ws BENCH_WS_SIZES=256 BENCH_WS_REPS=1
#   make bench-fds     the fd benchmark of issue 10 alone: BENCH_FDS="1000 5000 10000"
#                      (fds in a tree of 64 tasks), BENCH_FDS_REPS=3
#   make bench-containers  issue 12's: runc restores a container until it answers, eagerly and
#                      lazily: BENCH_CT_SIZES="256,1024,4096" (MiB), BENCH_CT_SHM="sysv devshm"
#                      (the shared half: a System V segment, a /dev/shm file), BENCH_CT_ARGS
#   make bench-redis   issue 11: redis-server with a million keys and a client connection
#                      open: dump, eager and lazy restore until the old connection answers,
#                      beside CRIU 4.2's figures here (BENCH_REDIS_ARGS: --rounds N, --keys N)
BENCH_SIZES ?= 1024 4096
BENCH_WS_SIZES ?= 1024 4096
BENCH_WS_REPS ?= 3
BENCH_WS_ARGS ?=
BENCH_REDIS_ARGS ?=
BENCH_BINS := $(B)/tests/bench/bench_target $(B)/tests/bench/bench_cr \
              $(B)/tests/bench/bench_ws_target $(B)/tests/bench/bench_ws \
              $(B)/tests/bench/bench_fds_target
# the fd benchmark (issue 10): BENCH_FDS="1000 5000 10000" fds in a tree of 64 tasks
BENCH_FDS ?= 1000 5000 10000
BENCH_FDS_REPS ?= 3
# the container benchmark (issue 12): runc restore until the container answers
BENCH_CT_SIZES ?= 256,1024,4096
BENCH_CT_SHM ?= sysv devshm
BENCH_CT_ARGS ?=

$(B)/tests/bench/ct_target: tests/bench/ct_target.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -static -o $@ $<

bench-containers: $(BIN) $(B)/tests/bench/ct_target
	@for shm in $(BENCH_CT_SHM); do \
		echo "== containers: runc restore until the container answers, eagerly and lazily ($$shm)"; \
		/usr/bin/python3 tests/bench/bench_containers.py --criu $(BIN) --target $(B)/tests/bench/ct_target \
			--sizes $(BENCH_CT_SIZES) $$([ $$shm = devshm ] && echo --devshm) $(BENCH_CT_ARGS) || exit 1; \
	done

$(B)/tests/bench/bench_ws $(B)/tests/bench/bench_ws_target: tests/bench/bench_ws.h

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
	@$(MAKE) --no-print-directory bench-ws
	@$(MAKE) --no-print-directory bench-fds
	@$(MAKE) --no-print-directory bench-containers
	@$(MAKE) --no-print-directory bench-redis

bench-fds: $(BIN) $(B)/tests/bench/bench_fds_target
	@echo "== dump and restore of 64 tasks holding fds of mixed kinds, beside regular files only"
	python3 tests/bench/bench_fds.py --criu $(BIN) --target $(B)/tests/bench/bench_fds_target \
		--fds $(shell echo $(BENCH_FDS) | tr ' ' ,) --reps $(BENCH_FDS_REPS)

bench-ws: $(BIN) $(BENCH_BINS) $(UFFD_BIN)
	@for mb in $(BENCH_WS_SIZES); do \
		echo "== working set: time to the first answer after eager and lazy restores of $$mb MiB"; \
		$(B)/tests/bench/bench_ws --mb $$mb --reps $(BENCH_WS_REPS) --criu $(BIN) \
			--target $(B)/tests/bench/bench_ws_target --uffd-tests $(UFFD_BIN) $(BENCH_WS_ARGS) || exit 1; \
	done

bench-redis: $(BIN)
	@echo "== redis with a million keys and a live connection: dump, eager and lazy restore"
	/usr/bin/python3 tests/bench/redis_bench.py --criu $(BIN) $(BENCH_REDIS_ARGS)

.PHONY: bench-ws bench-fds bench-containers bench-redis
