/* pipeline clean: remove stage results and temporary files; pipeline gc:
 * remove what the current configuration cannot use. */
#include <limits.h>
#include <stdio.h>

#include "../io/fs.h"
#include "../stages/gc.h"
#include "../stages/stages.h"
#include "cmd.h"
#include "opts.h"

int cmd_clean(int argc, char **argv)
{
	pl_err err = { 0 };
	char path[PATH_MAX];
	ws_opts o;
	int lock_fd = -1, done, rc = opts_parse("clean", argc, argv, OPT_DOWNLOADS, &o, &done);

	if (done)
		return rc;
	for (int i = 0; i < o.n_args; i++)
		if (engine_find(pipeline_stages, pipeline_n_stages, o.args[i]) < 0)
			return cmd_usage_error("clean", "unknown stage '%s'", o.args[i]);
	if (o.downloads && o.n_args)
		return cmd_usage_error("clean", "--downloads goes with cleaning every stage: name no "
				       "stage");
	if ((rc = opts_setup("clean", &o, 0, NULL)) != 0)
		return rc;
	if (!fs_is_dir(o.ws)) {
		pl_errorf(&err, PL_EUSAGE, "workspace '%s' does not exist", o.ws);
		return cmd_fail(&err);
	}
	if ((rc = engine_lock(o.ws, &lock_fd, &err)) < 0)
		return cmd_fail(&err);
	for (int i = 0; rc == 0 && i < (o.n_args ? o.n_args : pipeline_n_stages); i++) {
		const char *name = o.n_args ? o.args[i] : pipeline_stages[i].name;
		if ((rc = engine_clean(o.ws, name, &err)) == 0)
			log_info("removed %s", name);
	}
	if (rc == 0 && !o.n_args && (rc = fs_path(path, sizeof(path), &err, "%s/.tmp", o.ws)) == 0)
		rc = fs_rmtree(path, &err);
	if (rc == 0 && o.downloads &&
	    (rc = fs_path(path, sizeof(path), &err, "%s/downloads", o.ws)) == 0)
		rc = fs_rmtree(path, &err);
	if (rc == 0 && o.downloads)
		log_info("removed the downloads");
	engine_unlock(lock_fd);
	return rc < 0 ? cmd_fail(&err) : EXIT_OK;
}

int cmd_gc(int argc, char **argv)
{
	pl_err err = { 0 };
	long long freed = 0;
	cfg *c = NULL;
	ws_opts o;
	int lock_fd = -1, done, rc = opts_parse("gc", argc, argv, OPT_CONFIG, &o, &done);

	if (done)
		return rc;
	if (o.n_args)
		return cmd_usage_error("gc", "unexpected argument '%s'", o.args[0]);
	if ((rc = opts_setup("gc", &o, 0, &c)) != 0)
		return rc;
	if (!fs_is_dir(o.ws))
		rc = pl_errorf(&err, PL_EUSAGE, "workspace '%s' does not exist", o.ws);
	if (rc == 0)
		rc = engine_lock(o.ws, &lock_fd, &err);
	if (rc == 0)
		rc = gc_workspace(pipeline_stages, pipeline_n_stages, o.ws, c, &freed, &err);
	if (rc == 0)
		log_info("freed %.1f MiB", freed / 1048576.0);
	engine_unlock(lock_fd);
	cfg_free(c);
	return rc < 0 ? cmd_fail(&err) : EXIT_OK;
}
