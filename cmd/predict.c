/* pipeline predict: classify images with a package. With no IMAGE, one
 * image on stdin (the OpenFaaS classic watchdog's contract). */
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../io/fs.h"
#include "../stages/serve.h"
#include "cmd.h"

typedef struct predict_opts {
	const char *package;
	int csv;
	int rows;                   /* lines printed so far */
	serve_pkg *pkg;
} predict_opts;

static void print_result(predict_opts *o, const char *name, const float *probs)
{
	int k = serve_n_classes(o->pkg), best = 0;

	for (int c = 1; c < k; c++)
		if (probs[c] > probs[best])
			best = c;
	if (o->csv) {
		if (o->rows++ == 0) {
			printf("file,label");
			for (int c = 0; c < k; c++)
				printf(",%s", serve_class(o->pkg, c));
			printf("\n");
		}
		printf("\"%s\",%s", name, serve_class(o->pkg, best));
		for (int c = 0; c < k; c++)
			printf(",%.6f", probs[c]);
		printf("\n");
		return;
	}
	json_t *scores = json_object();
	for (int c = 0; c < k; c++)
		json_object_set_new(scores, serve_class(o->pkg, c), json_real(round(probs[c] * 1e6) / 1e6));
	json_t *row = json_pack("{s:s,s:s,s:o}", "file", name, "label", serve_class(o->pkg, best),
				"scores", scores);
	char *text = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	if (text)
		puts(text);
	free(text);
	json_decref(row);
	o->rows++;
}

/* Predicts one sample from n channel files. */
static int predict_files(predict_opts *o, char *const *paths, int n, pl_err *err)
{
	img ims[16] = { { 0 } };
	float probs[256];
	int rc = 0, loaded = 0;

	if (n != serve_n_files(o->pkg))
		return pl_errorf(err, PL_EUSAGE, "the model takes %d channel file(s) per sample, "
				 "'%s' gives %d (use --channels a,b for several)", serve_n_files(o->pkg),
				 paths[0], n);
	for (; loaded < n && rc == 0; loaded++)
		rc = img_decode_file(paths[loaded], NULL, &ims[loaded], err);
	if (rc == 0)
		rc = serve_predict(o->pkg, ims, (const char *const *)paths, n, probs, err);
	if (rc == 0)
		print_result(o, paths[0], probs);
	for (int i = 0; i < loaded; i++)
		img_release(&ims[i]);
	return rc;
}

static int is_image_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".bmp") ||
		       !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* Predicts every image under dir, recursively, in name order. */
static int predict_dir(predict_opts *o, const char *dir, pl_err *err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort), rc = 0;

	if (n < 0)
		return pl_errorf(err, PL_EIO, "cannot list '%s'", dir);
	for (int i = 0; i < n; i++) {
		char path[4200], *one[1] = { path };
		if (rc == 0 && names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (fs_is_dir(path))
				rc = predict_dir(o, path, err);
			else if (is_image_name(path))
				rc = predict_files(o, one, 1, err);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Splits the channels of im into single-channel images: a colour image for
 * a two-file model gives its G and B channels (the stains of the reference
 * workload), otherwise the first n channels in order. */
static int split_channels(const img *im, int n, img *out, pl_err *err)
{
	int colour = im->c == 2 || im->c == 4 ? im->c - 1 : im->c;
	int first = n == 2 && colour == 3 ? 1 : 0;

	if (colour < n + first)
		return pl_errorf(err, PL_EUSAGE, "the image on stdin has %d channel(s), the model "
				 "takes %d", colour, n);
	for (int k = 0; k < n; k++) {
		size_t npx = (size_t)im->w * im->h;
		out[k] = (img){ im->w, im->h, 1, im->maxval, malloc(npx * sizeof(float)) };
		if (!out[k].px)
			return pl_errorf(err, PL_ENOMEM, "out of memory");
		for (size_t j = 0; j < npx; j++)
			out[k].px[j] = im->px[j * im->c + first + k];
	}
	return 0;
}

static int predict_stdin(predict_opts *o, pl_err *err)
{
	size_t len = 0, cap = 1 << 20;
	char *buf = malloc(cap);
	img im = { 0 }, parts[16] = { { 0 } };
	const char *names[16];
	float probs[256];
	int n = serve_n_files(o->pkg), rc;
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
			return pl_errorf(err, PL_EDATA, "the image on stdin is too large");
		}
		buf = bigger;
		cap *= 2;
	}
	rc = len ? img_decode_mem(buf, len, "stdin", NULL, &im, err) :
	     pl_errorf(err, PL_EUSAGE, "no image on stdin (give IMAGE arguments, or send a PNG, "
		       "JPEG or BMP on stdin)");
	free(buf);
	for (int k = 0; k < n; k++)
		names[k] = "stdin";
	if (rc == 0)
		rc = n == 1 ? serve_predict(o->pkg, &im, names, 1, probs, err) :
		     split_channels(&im, n, parts, err);
	if (rc == 0 && n > 1)
		rc = serve_predict(o->pkg, parts, names, n, probs, err);
	if (rc == 0)
		print_result(o, "stdin", probs);
	img_release(&im);
	for (int k = 0; k < n; k++)
		img_release(&parts[k]);
	return rc;
}

/* Splits "a,b" into the paths array (pointers into text). */
static int split_list(char *text, char **paths)
{
	int n = 0;

	for (char *save = NULL, *p = strtok_r(text, ",", &save); p && n < 16;
	     p = strtok_r(NULL, ",", &save))
		paths[n++] = p;
	return n;
}

int cmd_predict(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "package", required_argument, NULL, 'p' }, { "format", required_argument, NULL, 'f' },
		{ "channels", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 }
	};
	predict_opts o = { 0 };
	char *channel_sets[64];
	int n_sets = 0, code, rc = 0;
	pl_err err = { 0 };

	optind = 1;
	opterr = 0;
	while ((code = getopt_long(argc, argv, "p:f:c:h", opts, NULL)) != -1) {
		if (code == 'h')
			return cmd_print_help("predict");
		if (code == 'p')
			o.package = optarg;
		else if (code == 'f' && (!strcmp(optarg, "json") || !strcmp(optarg, "csv")))
			o.csv = !strcmp(optarg, "csv");
		else if (code == 'c' && n_sets < 64)
			channel_sets[n_sets++] = optarg;
		else
			return cmd_usage_error("predict", "bad option '%s'", argv[optind - 1]);
	}
	if (!o.package && !(o.package = getenv("PIPELINE_PACKAGE")))
		return cmd_usage_error("predict", "give --package FILE (or set PIPELINE_PACKAGE)");
	if ((rc = serve_open(o.package, &o.pkg, &err)) < 0)
		return cmd_fail(&err);
	for (int i = 0; i < n_sets && rc == 0; i++) {
		char *paths[16];
		rc = predict_files(&o, paths, split_list(channel_sets[i], paths), &err);
	}
	for (int i = optind; i < argc && rc == 0; i++)
		rc = fs_is_dir(argv[i]) ? predict_dir(&o, argv[i], &err) :
		     predict_files(&o, &argv[i], 1, &err);
	if (rc == 0 && !n_sets && optind == argc)
		rc = predict_stdin(&o, &err);
	serve_close(o.pkg);
	if (rc == 0 && fflush(stdout) != 0)
		rc = pl_errorf(&err, PL_EIO, "cannot write the predictions");
	return rc < 0 ? cmd_fail(&err) : EXIT_OK;
}
