/* pipeline synth: draws the built-in demo plate into a directory or an
 * archive, and optionally a PNG preview of three wells. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "../io/fs.h"
#include "../io/log.h"
#include "../stages/demo/synth.h"

static int64_t tree_bytes;

static int add_file_size(const char *path, const struct stat *st, int type,
			 struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (type == FTW_F && S_ISREG(st->st_mode))
		tree_bytes += st->st_size;
	return 0;
}

/* Bytes of the file at path, or of all files under it. */
static int64_t path_bytes(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return st.st_size;
	tree_bytes = 0;
	if (nftw(path, add_file_size, 16, FTW_PHYS) != 0)
		return 0;
	return tree_bytes;
}

static int parse_count(const char *text, uint64_t max, uint64_t *value)
{
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	*value = strtoull(text, &end, 10);
	return errno || *end || *value > max ? -1 : 0;
}

/* Writes the plate and logs a one-line summary. */
static int write_plate(const synth_opts *o, const char *out)
{
	size_t len = strlen(out);
	int is_dir = (len > 0 && out[len - 1] == '/') || fs_is_dir(out);
	char path[PATH_MAX];
	pl_err err = { 0 };
	int wells = o->plates * SYNTH_WELLS;

	if (synth_write(o, out, &err) != 0)
		return cmd_fail(&err);
	if (is_dir && fs_path(path, sizeof(path), &err, "%.*s/plate",
			      (int)(len > 1 && out[len - 1] == '/' ? len - 1 : len), out) < 0)
		return cmd_fail(&err);
	if (!is_dir && fs_path(path, sizeof(path), &err, "%s", out) < 0)
		return cmd_fail(&err);
	log_info("synth: %d wells, %d files, %" PRId64 " bytes in %s", wells,
		 2 * wells + 1, path_bytes(path), path);
	return EXIT_OK;
}

int cmd_synth(int argc, char **argv)
{
	static const struct option options[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' },
		{ "plates", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 'S' },
		{ "preview", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *out = NULL, *preview = NULL;
	synth_opts o;
	pl_err err = { 0 };
	uint64_t v;
	int opt;

	synth_defaults(&o);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":ho:", options, NULL)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'P': preview = optarg; break;
		case 'h': return cmd_print_help("synth");
		case 's':
			if (parse_count(optarg, UINT64_MAX, &v) != 0)
				return cmd_usage_error("synth", "--seed '%s' is not a "
						       "non-negative integer", optarg);
			o.seed = v;
			break;
		case 'p':
			if (parse_count(optarg, SYNTH_MAX_PLATES, &v) != 0 || v < 1)
				return cmd_usage_error("synth", "--plates '%s' must be 1..%d",
						       optarg, SYNTH_MAX_PLATES);
			o.plates = (int)v;
			break;
		case 'S':
			if (synth_parse_size(optarg, &o.width, &o.height, &err) != 0)
				return cmd_usage_error("synth", "%s", err.msg);
			break;
		default:
			return cmd_getopt_error("synth", opt, argc, argv, options);
		}
	}
	if (optind < argc)
		return cmd_usage_error("synth", "unexpected argument '%s'", argv[optind]);
	if (!out && !preview)
		return cmd_usage_error("synth", "--out FILE|DIR is required");
	if (preview && synth_preview(&o, preview, &err) != 0)
		return cmd_fail(&err);
	return out ? write_plate(&o, out) : EXIT_OK;
}
