/* The command line: argv (and CRIU's configuration files) into struct cr_options, then
 * the library's entry points. Returns the process exit status. */
#ifndef CRIU_LITE_CLI_H
#define CRIU_LITE_CLI_H

int cli_run(int argc, char **argv);

#include <stdbool.h>

#include "lib/options.h"

/* Only the parsing: configuration files, then argv, into o (initialised by the caller),
 * with o->cmd set (and o->show_path). *ret_help / *ret_version when asked for. 0, or
 * -1 (printed on stderr). Nothing is set up or run. */
int cli_parse(int argc, char **argv, struct cr_options *o, bool *ret_help, bool *ret_version);

#endif
