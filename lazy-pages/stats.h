/* The daemon's statistics (JSON and a one-line summary). */
#ifndef CRIU_LITE_LP_STATS_H
#define CRIU_LITE_LP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "lazy-pages/state.h"

/* p in [0, 100]; 0 if no samples. ns. */
uint64_t lp_lat_pct(struct lp_lat *lat, double p);
void lp_stats_fini(struct lp_stats *st);
/* Write the statistics as JSON into dfd/name. 0 or -1 (logged). */
int lp_stats_write_json(struct lp_loop *l, int dfd, const char *name);
/* One line summary at LOG_MSG. */
void lp_stats_log(struct lp_loop *l);

#endif
