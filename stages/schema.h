/* The configuration schema of pipeline and loading it from the usual places
 * (file, PIPELINE_CONFIG, --set, PIPELINE_SET). */
#ifndef PL_SCHEMA_H
#define PL_SCHEMA_H

#include <stdio.h>

#include "../io/cfg.h"

/* Loads the configuration: defaults, then the file (path, or
 * PIPELINE_CONFIG when path is NULL, or nothing), then PIPELINE_SET
 * ("a.b=1;c.d=2"), then the n_sets assignments of sets. Caller frees with
 * cfg_free. Errors are PL_EUSAGE naming file, line and key. */
int schema_load(const char *path, char *const *sets, int n_sets, cfg **out, pl_err *err);

/* Writes the configuration reference (every section and key with type,
 * default, range and help) as Markdown. */
void schema_write_reference(FILE *f);

#endif
