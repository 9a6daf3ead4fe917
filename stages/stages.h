/* The four stages of pipeline, in order. */
#ifndef PL_STAGES_H
#define PL_STAGES_H

#include "engine.h"

extern const stage_def pipeline_stages[];
extern const int pipeline_n_stages;

/* Each stage's run function (stages/NAME.c). */
int prepare_identity(stage_ctx *ctx, char *out, size_t n, pl_err *err);
int prepare_run(stage_ctx *ctx, pl_err *err);
int train_run(stage_ctx *ctx, pl_err *err);
int validate_run(stage_ctx *ctx, pl_err *err);
int package_run(stage_ctx *ctx, pl_err *err);

#endif
