/* pipeline run / pipeline stage: run the stages through the engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../io/mpi.h"
#include "../stages/dist.h"
#include "../stages/parts.h"
#include "../stages/stages.h"
#include "cmd.h"
#include "opts.h"

/* A validate step with PIPELINE_UI_DIR set copies its Kubeflow UI files
 * there, after it passed, was cached, or missed the gate. Returns rc, or
 * the copy's error when rc was 0. */
static int copy_ui(const char *ws, const engine_opts *eo, const stage_status *st, int rc,
		   pl_err *err)
{
	const char *dir = getenv("PIPELINE_UI_DIR");
	int v = engine_find(pipeline_stages, pipeline_n_stages, "validate");
	int committed = st[v].state == ST_RAN || st[v].state == ST_CACHED;
	pl_err copy_err = { 0 };

	if (!dir || !*dir || strcmp(eo->from, "validate") || (!committed && err->code != PL_EGATE))
		return rc;
	if (validate_copy_ui(ws, committed, dir, &copy_err) < 0) {
		log_warn("%s", copy_err.msg);
		if (rc == 0) {
			*err = copy_err;
			return -copy_err.code;
		}
	}
	return rc;
}

/* A workspace that cannot be written (a read-only mount) can still be
 * found complete: the stages are judged as a dry run would, and all of
 * them cached is success. err holds why the lock could not be taken. */
static int read_only_run(engine_opts *eo, stage_status *st, pl_err *err)
{
	pl_err cause = *err;
	int rc;

	eo->dry_run = 1;
	if ((rc = engine_run(pipeline_stages, pipeline_n_stages, eo, st, err)) < 0)
		return rc;
	for (int i = 0; i < pipeline_n_stages; i++)
		if (st[i].state != ST_CACHED && st[i].state != ST_SKIPPED)
			return pl_errorf(err, PL_EIO, "%s; %s would run (%s)", cause.msg,
					 st[i].def->name, st[i].reason);
	return 0;
}

/* One rank of `mpirun -np N pipeline stage train`: rank 0 runs the engine
 * (lock, cache, commit) and tells the others whether it trains; they train
 * with it and write nothing. A failure returns without MPI_Finalize, which
 * would wait for ranks stuck in a collective: the launcher ends them. */
static int train_rank(engine_opts *eo, cfg *c, pl_err *err)
{
	stage_status st[8] = { 0 };
	int lock_fd = -1, go = 0, rc;

	if ((rc = mpi_init(err)) < 0 || (rc = dist_setup(c, err)) < 0)
		return rc;
	if (dist_rank() == 0) {
		rc = eo->dry_run ? 0 : engine_lock_wait(eo->ws, &lock_fd, eo->stop, err);
		if (rc == 0)
			rc = engine_run(pipeline_stages, pipeline_n_stages, eo, st, err);
		engine_status_release(st, pipeline_n_stages);
		engine_unlock(lock_fd);
		if (rc == 0)
			rc = dist_go(&go, err);   /* cached or a dry run: the others stop */
	} else if ((rc = dist_go(&go, err)) == 0 && go) {
		rc = engine_follow(&pipeline_stages[engine_find(pipeline_stages, pipeline_n_stages,
						     "train")], eo, err);
	}
	if (rc == 0)
		mpi_finalize();
	else if (dist_rank() > 0)
		pl_errprefix(err, "rank %d: ", dist_rank());
	return rc;
}

/* Under an MPI launcher: `stage train` trains over the ranks, each rank a
 * supervisor and its rank process, so that a rank killed by a signal still
 * ends the job with 75 (worth retrying) instead of the signal's status;
 * everything else is refused (run the other stages without the launcher). */
static int run_launched(const char *cmd, engine_opts *eo, cfg *c)
{
	pl_err err = { 0 };
	int status, rc;

	if (strcmp(cmd, "stage") || strcmp(eo->from, "train"))
		return pl_errorf(&err, PL_EUSAGE, "started by an MPI launcher with %d processes: only "
				 "`mpirun ... pipeline stage train` runs over MPI ranks: run %s%s without "
				 "mpirun (or set train.distributed = off)", mpi_launched(),
				 strcmp(cmd, "stage") ? "`pipeline run --until prepare`, then the train "
				 "stage under mpirun, then `pipeline run`" : "stage ",
				 strcmp(cmd, "stage") ? "" : eo->from), cmd_fail(&err);
	if ((rc = mpi_supervise(&status, &err)) < 0)
		return cmd_fail(&err);
	if (rc == 1)
		return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_TEMP;
	eo->stop = opts_catch_stop_signals();
	return train_rank(eo, c, &err) < 0 ? cmd_fail(&err) : EXIT_OK;
}

/* Runs the engine and reports; shared by run and stage. Whole stages run
 * under the workspace lock; shards of prepare run at once without it (each
 * commits its own part). A container step (stage) logs JSON by default and
 * waits for the lock; run refuses at once. */
static int run_engine(const char *cmd, ws_opts *o, engine_opts *eo, int step)
{
	stage_status st[8] = { 0 };
	pl_err err = { 0 };
	cfg *c = NULL;
	int lock_fd = -1, rc;

	if ((rc = opts_setup(cmd, o, step, &c)) != 0)
		return rc;
	eo->ws = o->ws;
	eo->cfg = c;
	if (mpi_launched() > 0 && strcmp(cfg_str(c, "train", "distributed"), "off")) {
		rc = run_launched(cmd, eo, c);
		cfg_free(c);
		return rc;
	}
	eo->stop = opts_catch_stop_signals();
	rc = o->dry_run || eo->part ? 0 : step ? engine_lock_wait(o->ws, &lock_fd, eo->stop, &err) :
	     engine_lock(o->ws, &lock_fd, &err);
	if (rc == -PL_EIO && fs_is_dir(o->ws) && access(o->ws, W_OK) != 0)
		rc = read_only_run(eo, st, &err);
	else if (rc == 0)
		rc = engine_run(pipeline_stages, pipeline_n_stages, eo, st, &err);
	if (step && !o->dry_run)
		rc = copy_ui(o->ws, eo, st, rc, &err);
	engine_status_release(st, pipeline_n_stages);
	engine_unlock(lock_fd);
	cfg_free(c);
	return rc < 0 ? cmd_fail(&err) : EXIT_OK;
}

/* Index of stage name, or -1 after a usage error naming it. */
static int stage_index(const char *cmd, const char *name)
{
	int i = engine_find(pipeline_stages, pipeline_n_stages, name);

	if (i < 0)
		cmd_usage_error(cmd, "unknown stage '%s' (%s)", name, stages_names());
	return i;
}

int cmd_run(int argc, char **argv)
{
	engine_opts eo = { 0 };
	ws_opts o;
	int done, rc = opts_parse("run", argc, argv, OPT_RANGE | OPT_FORCE | OPT_DRY | OPT_CONFIG,
				  &o, &done), from = 0, until = pipeline_n_stages - 1, force = -1;

	if (done)
		return rc;
	if (o.n_args)
		return cmd_usage_error("run", "unexpected argument '%s'", o.args[0]);
	if ((o.from && (from = stage_index("run", o.from)) < 0) ||
	    (o.until && (until = stage_index("run", o.until)) < 0) ||
	    (o.force && strcmp(o.force, "all") && (force = stage_index("run", o.force)) < 0))
		return EXIT_USAGE;
	if (from > until)
		return cmd_usage_error("run", "--from %s comes after --until %s: nothing to run",
				       o.from, o.until);
	if (force >= 0 && (force < from || force > until))
		return cmd_usage_error("run", "--force %s is outside the stages run (%s to %s)",
				       o.force, pipeline_stages[from].name, pipeline_stages[until].name);
	eo.from = o.from;
	eo.until = o.until;
	eo.force = o.force;
	eo.dry_run = o.dry_run;
	return run_engine("run", &o, &eo, 0);
}

int cmd_stage(int argc, char **argv)
{
	engine_opts eo = { 0 };
	char shard[32];
	pl_err err = { 0 };
	int index, count;
	ws_opts o;
	int done, rc = opts_parse("stage", argc, argv,
				  OPT_FORCE_FLAG | OPT_DRY | OPT_SHARD | OPT_CONFIG, &o, &done);

	if (done)
		return rc;
	if (o.n_args != 1)
		return cmd_usage_error("stage", "give one stage name (%s)", stages_names());
	if (stage_index("stage", o.args[0]) < 0)
		return EXIT_USAGE;
	eo.from = eo.until = o.args[0];
	eo.force = o.force ? o.args[0] : NULL;
	eo.dry_run = o.dry_run;
	if (o.shard && strcmp(o.args[0], "prepare"))
		return cmd_usage_error("stage", "--shard applies to prepare only, not '%s'", o.args[0]);
	if (o.shard && parts_parse(o.shard, &index, &count, &err) < 0)
		return cmd_usage_error("stage", "%s", err.msg);
	if (o.shard) {
		snprintf(shard, sizeof(shard), "%d/%d", index, count);
		eo.part = shard;
	}
	return run_engine("stage", &o, &eo, 1);
}
