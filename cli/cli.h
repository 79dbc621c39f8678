/* The command line: argv (and CRIU's configuration files) into struct cr_options, then
 * the library's entry points. Returns the process exit status. */
#ifndef CRIU_LITE_CLI_H
#define CRIU_LITE_CLI_H

int cli_run(int argc, char **argv);

#endif
