#include <stdio.h>
#include "criu-lite/cmd.h"

int cmd_dump(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "criu-lite %s: not implemented yet\n", argv[0]);
	return 1;
}
