/* The stages of pipeline in order, with what each hashes and reads. */
#include "stages.h"

#include <stdio.h>

const stage_def pipeline_stages[] = {
	{ "prepare", 3, "dataset prepare", NULL, prepare_identity, prepare_run },
	{ "train", 2, "model train", "prepare", NULL, train_run },
	{ "validate", 1, "validate", "train", NULL, validate_run },
	{ "package", 1, "package", "validate", package_identity, package_run },
};

const int pipeline_n_stages = sizeof(pipeline_stages) / sizeof(pipeline_stages[0]);

const char *stages_names(void)
{
	static char names[128];

	if (!names[0])
		for (int i = 0, len = 0; i < pipeline_n_stages; i++)
			len += snprintf(names + len, sizeof(names) - (size_t)len, "%s%s",
					i ? ", " : "", pipeline_stages[i].name);
	return names;
}
