/* The four stages of pipeline, in order. */
#ifndef PL_STAGES_H
#define PL_STAGES_H

#include "engine.h"

/* The one table of the stages, in order (stages.c). */
extern const stage_def pipeline_stages[];
extern const int pipeline_n_stages;

/* "prepare, train, validate, package": the stage names in order, for
 * messages. */
const char *stages_names(void);

/* Each stage's run function (stages/NAME.c). */
int prepare_identity(stage_ctx *ctx, char *out, size_t n, pl_err *err);
int prepare_run(stage_ctx *ctx, pl_err *err);
int train_run(stage_ctx *ctx, pl_err *err);
int validate_run(stage_ctx *ctx, pl_err *err);
int package_run(stage_ctx *ctx, pl_err *err);
int package_identity(stage_ctx *ctx, char *out, size_t n, pl_err *err);

/* Copies validate's two Kubeflow UI files into dir (made if missing) from
 * this invocation's result: WS/validate when done (committed is 1), else
 * what a missed gate left in WS/.tmp/validate. So a step's UI outputs
 * always describe the model it judged, never an older one. */
int validate_copy_ui(const char *ws, int committed, const char *dir, pl_err *err);

#endif
