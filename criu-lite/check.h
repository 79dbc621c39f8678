/* criu-lite check: what this kernel and these privileges allow. */
#ifndef CRIU_LITE_CHECK_H
#define CRIU_LITE_CHECK_H

#include "lib/options.h"

/* Print the answer (o->check_all, o->check_json, o->features). 0 when everything asked
 * for is there, -1 otherwise (or on an error, logged). */
int cr_check(const struct cr_options *o);

#endif
