/* criu-lite show: images as JSON. */
#ifndef CRIU_LITE_SHOW_H
#define CRIU_LITE_SHOW_H

#include "lib/options.h"

/* Print o->show_path (an image, or a dump directory, validated as restore would) as
 * JSON on stdout; o->show_pages, o->show_full. 0 or -1 (logged). */
int cr_show(const struct cr_options *o);

#endif
