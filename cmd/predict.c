/* pipeline predict: classify images with a package, in batches. With no
 * IMAGE, one image on stdin (the OpenFaaS classic watchdog's contract). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../io/fs.h"
#include "../io/log.h"
#include "../io/utf8.h"
#include "../stages/preproc.h"
#include "../stages/serve/serve.h"
#include "cmd.h"

typedef struct predict_opts {
	const char *package;
	int csv;
	int rows;                   /* lines printed so far */
	int exit_code;              /* of the first sample that failed; 0 while none did */
	serve_pkg *pkg;
} predict_opts;

/* Prints sep, then s as a CSV field (RFC 4180): quoted, with quotes
 * doubled, when always or when s holds a comma, quote or line break. */
static void put_csv(const char *sep, const char *s, int always)
{
	fputs(sep, stdout);
	if (!always && !strpbrk(s, ",\"\r\n")) {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void print_result(void *ctx, const char *name, const float *probs)
{
	predict_opts *o = ctx;
	int k = serve_n_classes(o->pkg), best = serve_best(o->pkg, probs);

	if (o->csv) {
		if (o->rows++ == 0) {
			printf("file,label");
			for (int c = 0; c < k; c++)
				put_csv(",", serve_class(o->pkg, c), 0);
			printf("\n");
		}
		put_csv("", name, 1);
		put_csv(",", serve_class(o->pkg, best), 0);
		for (int c = 0; c < k; c++)
			printf(",%.6f", probs[c]);
		printf("\n");
		return;
	}
	json_t *row = serve_result_json(o->pkg, name, probs);
	char *text = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	if (text)
		puts(text);
	free(text);
	json_decref(row);
	o->rows++;
}

/* Ends the queueing of one sample (rc its result). A full batch is run and
 * printed. A sample that failed is reported after the ones queued before
 * it, and the rest go on; the exit code is then that of the first failure.
 * Returns nonzero only when the network itself failed. */
static int sample_done(predict_opts *o, int rc, pl_err *err)
{
	pl_err failed;

	if (rc == 0)
		return serve_batch_full(o->pkg) ? serve_run(o->pkg, print_result, o, err) : 0;
	failed = *err;
	if ((rc = serve_run(o->pkg, print_result, o, err)) < 0)
		return rc;
	fflush(stdout);   /* results before errors where both go to one file; checked at the end */
	rc = cmd_fail(&failed);
	if (!o->exit_code)
		o->exit_code = rc;
	return 0;
}

/* Predicts one sample from n channel files, or from one image holding its
 * channels. */
static int predict_files(predict_opts *o, char *const *paths, int n, pl_err *err)
{
	img ims[PREPROC_MAX_CHANNELS] = { { 0 } };
	img_limits lim;
	int rc = 0, loaded = 0;

	serve_decode_limits(o->pkg, &lim);
	for (; loaded < n && rc == 0; loaded++)
		rc = img_decode_file(paths[loaded], &lim, &ims[loaded], err);
	if (rc == 0)
		rc = n == 1 ? serve_queue_image(o->pkg, &ims[0], paths[0], err) :
		     serve_queue(o->pkg, ims, (const char *const *)paths, n, err);
	for (int i = 0; i < loaded; i++)
		img_release(&ims[i]);
	return sample_done(o, rc, err);
}

/* 1 when path is a regular file (or a link to one): a FIFO or a device
 * found in a folder is skipped, as prepare does. */
static int is_regular(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Predicts every image under dir, recursively, in name order; other
 * files named like images are skipped with a warning. */
static int predict_dir(predict_opts *o, const char *dir, const fs_visit *up, pl_err *err)
{
	struct dirent **names = NULL;
	fs_visit here;
	int n, rc = 0;

	if (fs_visit_enter(&here, up, dir) < 0)
		return 0;   /* a link back to a folder above */
	if ((n = scandir(dir, &names, NULL, alphasort)) < 0)
		return sample_done(o, pl_errorf(err, PL_EIO, "cannot list '%s': %s", dir, strerror(errno)),
			      err);
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX], *one[1] = { path };
		if (rc == 0 && names[i]->d_name[0] != '.') {
			if ((rc = fs_path(path, sizeof(path), err, "%s/%s", dir, names[i]->d_name)) < 0)
				rc = sample_done(o, rc, err);
			else if (fs_is_dir(path))
				rc = predict_dir(o, path, &here, err);
			else if (img_is_image_name(path) && !is_regular(path))
				log_warn("ignoring '%s': not a regular file", path);
			else if (img_is_image_name(path))
				rc = predict_files(o, one, 1, err);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int predict_stdin(predict_opts *o, pl_err *err)
{
	size_t len = 0, cap = 1 << 20;
	char *buf = malloc(cap);
	img im = { 0 };
	img_limits lim;
	int rc;
	size_t got;

	if (!buf)
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	while ((got = fread(buf + len, 1, cap - len, stdin)) > 0) {
		char *bigger = NULL;
		len += got;
		if (len < cap)
			continue;
		if (cap > (256u << 20) || !(bigger = realloc(buf, cap * 2))) {
			free(buf);
			return sample_done(o, cap > (256u << 20) ?
					   pl_errorf(err, PL_EDATA, "the image on stdin is over 512 MiB") :
					   pl_errorf(err, PL_ENOMEM, "out of memory reading stdin"), err);
		}
		buf = bigger;
		cap *= 2;
	}
	serve_decode_limits(o->pkg, &lim);
	rc = ferror(stdin) ? pl_errorf(err, PL_EIO, "cannot read stdin: %s", strerror(errno)) :
	     len ? img_decode_mem(buf, len, "stdin", &lim, &im, err) :
	     pl_errorf(err, PL_EUSAGE, "no image on stdin (give IMAGE arguments, or send a PNG, "
		       "JPEG or BMP on stdin)");
	free(buf);
	if (rc == 0)
		rc = serve_queue_image(o->pkg, &im, "stdin", err);
	img_release(&im);
	return sample_done(o, rc, err);
}

/* Splits "a,b" into the paths array (pointers into text), keeping at most
 * cap; returns how many names there are. */
static int split_list(char *text, char **paths, int cap)
{
	int n = 0;

	for (char *save = NULL, *p = strtok_r(text, ",", &save); p; p = strtok_r(NULL, ",", &save))
		if (n++ < cap)
			paths[n - 1] = p;
	return n;
}

/* Reads the options into o and sets (room for argc). Returns an exit code,
 * with *done set when the command ends here (help, usage error); 0 with
 * *done = 0 to go on. */
static int parse_args(int argc, char **argv, predict_opts *o, char **sets, int *n_sets, int *done)
{
	static const struct option opts[] = {
		{ "package", required_argument, NULL, 'p' }, { "format", required_argument, NULL, 'f' },
		{ "channels", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 }
	};
	int code;

	*done = 1;
	optind = 1;
	opterr = 0;
	while ((code = getopt_long(argc, argv, ":p:f:c:h", opts, NULL)) != -1) {
		if (code == 'h')
			return cmd_print_help("predict");
		if (code == '?' || code == ':')
			return cmd_getopt_error("predict", code, argc, argv, opts);
		if (code == 'p')
			o->package = optarg;
		else if (code == 'f' && strcmp(optarg, "json") && strcmp(optarg, "csv"))
			return cmd_usage_error("predict", "--format must be json or csv, not '%s'", optarg);
		else if (code == 'f')
			o->csv = !strcmp(optarg, "csv");
		else if (code == 'c' && !optarg[strspn(optarg, ",")])
			return cmd_usage_error("predict", "--channels '%s' names no file", optarg);
		else
			sets[(*n_sets)++] = optarg;
	}
	if (!o->package && !(o->package = getenv("PIPELINE_PACKAGE")))
		return cmd_usage_error("predict", "give --package FILE (or set PIPELINE_PACKAGE)");
	*done = 0;
	return 0;
}

/* Predicts the channel sets, then the n IMAGE and DIR arguments, or stdin
 * when there are neither. */
static int predict_all(predict_opts *o, char **sets, int n_sets, char **args, int n, pl_err *err)
{
	int rc = 0;

	for (int i = 0; i < n_sets && rc == 0; i++) {
		char *paths[PREPROC_MAX_CHANNELS];
		int k = split_list(sets[i], paths, PREPROC_MAX_CHANNELS);
		if (k != serve_n_files(o->pkg))
			rc = pl_errorf(err, PL_EUSAGE, "the model takes %d channel file(s) per sample, "
				       "--channels names %d", serve_n_files(o->pkg), k);
		else
			rc = predict_files(o, paths, k, err);
	}
	for (int i = 0; i < n && rc == 0; i++)
		rc = fs_is_dir(args[i]) ? predict_dir(o, args[i], NULL, err) : predict_files(o, &args[i], 1, err);
	if (rc == 0 && !n_sets && !n)
		rc = predict_stdin(o, err);
	if (rc == 0)
		rc = serve_run(o->pkg, print_result, o, err);
	return rc;
}

int cmd_predict(int argc, char **argv)
{
	predict_opts o = { 0 };
	char **sets = calloc((size_t)argc, sizeof(*sets));
	int n_sets = 0, done, rc;
	pl_err err = { 0 };

	if (!sets)
		return cmd_fail(&(pl_err){ PL_ENOMEM, "out of memory" });
	rc = parse_args(argc, argv, &o, sets, &n_sets, &done);
	if (!done) {
		if (serve_open(o.package, &o.pkg, &err) == 0 &&
		    predict_all(&o, sets, n_sets, argv + optind, argc - optind, &err) == 0)
			rc = o.exit_code;
		else
			rc = cmd_fail(&err);
	}
	serve_close(o.pkg);
	free(sets);
	return rc;
}
