# make demo: the README's first command.
$(B)/tests/demo/demo_prog: tests/demo/demo_prog.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

demo: $(BIN) $(B)/tests/demo/demo_prog
	B=$(B) tests/demo/demo.sh
