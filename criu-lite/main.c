/* criu-lite: the command table. Each command parses its options and calls the library. */
#include <stdio.h>
#include <string.h>

#include "include/log.h"
#include "criu-lite/cmd.h"

static const struct cmd cmds[] = {
	{ "check", cmd_check, "probe what this kernel and these privileges allow" },
	{ "show", cmd_show, "print images as JSON" },
	{ "dump", cmd_dump, "checkpoint a process tree into a directory of images" },
	{ "restore", cmd_restore, "restore a process tree from images" },
	{ "lazy-pages", cmd_lazy_pages, "serve the memory of a lazy restore through userfaultfd" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: criu-lite COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'criu-lite COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("criu-lite %s\n", CRIU_LITE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "criu-lite: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 1;
}
