/* pipeline clean: remove stage results and temporary files. */
#include <stdio.h>

#include "../io/fs.h"
#include "../stages/stages.h"
#include "cmd.h"
#include "opts.h"

int cmd_clean(int argc, char **argv)
{
	pl_err err = { 0 };
	char path[4200];
	ws_opts o;
	int lock_fd = -1, rc = opts_parse("clean", argc, argv, OPT_DOWNLOADS, &o);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	for (int i = 0; i < o.n_args; i++)
		if (engine_find(pipeline_stages, pipeline_n_stages, o.args[i]) < 0)
			return cmd_usage_error("clean", "unknown stage '%s'", o.args[i]);
	if (!fs_is_dir(o.ws)) {
		err.code = PL_EUSAGE;
		snprintf(err.msg, sizeof(err.msg), "workspace '%s' does not exist", o.ws);
		return cmd_fail(&err);
	}
	if ((rc = engine_lock(o.ws, &lock_fd, &err)) < 0)
		return cmd_fail(&err);
	for (int i = 0; rc == 0 && i < (o.n_args ? o.n_args : pipeline_n_stages); i++)
		rc = engine_clean(o.ws, o.n_args ? o.args[i] : pipeline_stages[i].name, &err);
	snprintf(path, sizeof(path), "%s/.tmp", o.ws);
	if (rc == 0 && !o.n_args)
		rc = fs_rmtree(path, &err);
	snprintf(path, sizeof(path), "%s/downloads", o.ws);
	if (rc == 0 && o.downloads)
		rc = fs_rmtree(path, &err);
	engine_unlock(lock_fd);
	return rc < 0 ? cmd_fail(&err) : EXIT_OK;
}
