/* The serving files of a package: a Dockerfile and an OpenFaaS stack.yml
 * (the of-watchdog in http mode in front of `pipeline serve`, or the
 * classic watchdog forking `pipeline predict`), and a KServe
 * InferenceService running `pipeline serve`. */
#ifndef PL_SERVE_DEPLOY_H
#define PL_SERVE_DEPLOY_H

#include "../../io/err.h"

typedef struct deploy_opts {
	const char *name, *version;   /* [package] name and version */
	const char *base_image;       /* the image with the pipeline binary (may carry @sha256:...) */
	const char *archive;          /* the package's file name, copied into the image */
	int classic;                  /* [package] watchdog = classic */
	int exec_timeout_s;           /* the watchdog's request time limit */
	int max_inflight;             /* requests the watchdog lets in at once */
} deploy_opts;

/* The files deploy_write writes, in order. */
extern const char *const deploy_files[3];

/* Writes deploy_files into dir. */
int deploy_write(const deploy_opts *o, const char *dir, pl_err *err);

#endif
