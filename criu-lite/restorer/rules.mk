# The restorer blob: freestanding PIE objects linked into one flat image that
# criu-lite embeds as a byte array. The build fails if the linked blob needs any
# relocation (it is copied to an arbitrary address and run as is).

RST_DIR      := $(B)/restorer
RST_SRCS     := $(wildcard criu-lite/restorer/*.c)
RST_OBJS     := $(patsubst criu-lite/restorer/%.c,$(RST_DIR)/%.o,$(RST_SRCS))
RST_CFLAGS   := -std=gnu11 -O2 -g0 -Wall -Wextra -Werror -I. \
                -fpie -ffreestanding -nostdlib -fno-stack-protector -U_FORTIFY_SOURCE \
                -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-jump-tables \
                -fno-tree-loop-distribute-patterns -fvisibility=hidden \
                -mno-red-zone -fcf-protection=none -fno-plt
RESTORER_BLOB_H := $(B)/restorer-blob.h

$(RST_DIR)/%.o: criu-lite/restorer/%.c $(wildcard criu-lite/restorer/*.h)
	@mkdir -p $(RST_DIR)
	$(CC) $(RST_CFLAGS) -c $< -o $@

$(RST_DIR)/blob.elf: $(RST_OBJS) criu-lite/restorer/restorer.lds
	ld -pie --no-dynamic-linker --no-warn-rwx-segments -z norelro -z noexecstack --hash-style=gnu -nostdlib \
	   -T criu-lite/restorer/restorer.lds -o $@ $(RST_OBJS)
	@if readelf -rW $@ | grep -q 'Relocation section'; then \
		echo "restorer blob has relocations:" >&2; readelf -rW $@ >&2; rm -f $@; exit 1; fi
	@if readelf -SW $@ | grep -q NOBITS; then \
		echo "restorer blob has a NOBITS section (it would not be in the flat image)" >&2; rm -f $@; exit 1; fi
	@if nm $@ | grep -q ' U '; then \
		echo "restorer blob has undefined symbols:" >&2; nm $@ | grep ' U ' >&2; rm -f $@; exit 1; fi

$(RST_DIR)/blob.bin: $(RST_DIR)/blob.elf
	objcopy -O binary --only-section=.text --only-section=.rodata --only-section=.data $< $@

$(RESTORER_BLOB_H): $(RST_DIR)/blob.bin $(RST_DIR)/blob.elf
	@{ echo "/* Generated from criu-lite/restorer: do not edit. */"; \
	   echo "#define RST_BLOB_ENTRY 0x$$(nm $(RST_DIR)/blob.elf | awk '$$3 == "rst_main" { print $$1 }')ULL"; \
	   echo "#define RST_BLOB_GADGET 0x$$(nm $(RST_DIR)/blob.elf | awk '$$3 == "rst_syscall_gadget" { print $$1 }')ULL"; \
	   echo "static const unsigned char rst_blob[] __attribute__((aligned(16))) = {"; \
	   xxd -i < $<; \
	   echo "};"; } > $@.tmp
	@grep -q 'RST_BLOB_ENTRY 0x[0-9a-f]' $@.tmp || { echo "no rst_main in the blob" >&2; rm -f $@.tmp; exit 1; }
	@grep -q 'RST_BLOB_GADGET 0x[0-9a-f]' $@.tmp || { echo "no rst_syscall_gadget in the blob" >&2; rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@

# Exposed for tests/unit/check_restorer.c (relocation check at run time).
RESTORER_BLOB_ELF := $(RST_DIR)/blob.elf

# check_restorer includes the generated header.
$(B)/tests/unit/check_restorer: $(RESTORER_BLOB_H)
