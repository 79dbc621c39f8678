/* Command entry points: each parses argv (argv[0] is the command name) and
 * returns the process exit status. Only main.c and these call exit-like paths. */
#ifndef CRIU_LITE_CMD_H
#define CRIU_LITE_CMD_H

#define CRIU_LITE_VERSION "0.1"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

int cmd_check(int argc, char **argv);   /* criu-lite/check.c   */
int cmd_show(int argc, char **argv);    /* criu-lite/show.c    */
int cmd_dump(int argc, char **argv);    /* criu-lite/dump.c    */
int cmd_restore(int argc, char **argv); /* criu-lite/restore.c */
int cmd_lazy_pages(int argc, char **argv); /* lazy-pages/daemon.c */

#endif
