/* The workspace's own names (.tmp, .cache, .status, downloads, the stage
 * directories and what they hold, checkpoints/) are written to: none of
 * them may be a symbolic link leading out of the workspace. */
#ifndef PL_WSGUARD_H
#define PL_WSGUARD_H

#include "../io/err.h"

/* Checks the workspace ws (existing) down to the files of its stage
 * directories (WS/.tmp/NAME/checkpoints/FILE): fails with PL_EUSAGE,
 * naming the link and where it leads, at the first symbolic link that
 * resolves outside ws or nowhere. The source extracted into
 * WS/.tmp/prepare-source is checked when extracted (io/arc.c). */
int wsguard_check(const char *ws, pl_err *err);

#endif
