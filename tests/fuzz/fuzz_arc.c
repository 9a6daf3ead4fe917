/* libFuzzer target for safe extraction (arc_extract) and in-memory reading
 * (arc_foreach): each input is written to a file in a private temporary
 * directory and extracted into out/ with small limits. Besides memory errors
 * it traps when anything lands outside out/, when a symlink under out/
 * resolves outside it, or when a device file or FIFO appears.
 *
 * Build and run from the repository root:
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -o fuzz_arc tests/fuzz/fuzz_arc.c io/arc.c io/fs.c io/err.c \
 *     $(pkg-config --cflags --libs libarchive)
 *   mkdir -p fuzz-corpus-arc && cp some.tar.gz some.zip fuzz-corpus-arc/
 *   ./fuzz_arc -max_total_time=60 -rss_limit_mb=1024 fuzz-corpus-arc
 */
#include <dirent.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../io/arc.h"
#include "../../io/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char work[] = "/tmp/fuzz-arc-XXXXXX";
static char out_real[PATH_MAX];

/* Checks every object under dir; traps on anything that must not exist. */
static void check_tree(const char *dir, int depth)
{
	char path[PATH_MAX], real[PATH_MAX];
	size_t n = strlen(out_real);
	struct dirent *d;
	struct stat st;
	DIR *h = opendir(dir);

	if (!h || depth > 64)
		goto out;
	while ((d = readdir(h))) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode))
			__builtin_trap();
		if (S_ISLNK(st.st_mode) && realpath(path, real) &&
		    (strncmp(real, out_real, n) != 0 || (real[n] != '/' && real[n])))
			__builtin_trap();
		if (S_ISDIR(st.st_mode))
			check_tree(path, depth + 1);
	}
out:
	if (h)
		closedir(h);
}

/* Only in.arc and out/ may exist in the work directory. */
static void check_work_dir(void)
{
	struct dirent *d;
	DIR *h = opendir(work);

	if (!h)
		return;
	while ((d = readdir(h)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..") &&
		    strcmp(d->d_name, "in.arc") && strcmp(d->d_name, "out"))
			__builtin_trap();
	closedir(h);
}

static int count_entry(void *ctx, const char *name, void *buf, size_t len,
		       pl_err *err)
{
	(void)name; (void)err;
	if (buf && len)
		*(size_t *)ctx += ((const unsigned char *)buf)[len - 1];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	arc_limits lim = { .max_entries = 64, .max_entry_bytes = 1 << 20,
			   .max_total_bytes = 4 << 20 };
	char in[PATH_MAX], out[PATH_MAX];
	size_t sum = 0;
	pl_err err;
	FILE *f;

	if (work[sizeof(work) - 2] == 'X' && !mkdtemp(work))
		abort();
	snprintf(in, sizeof(in), "%s/in.arc", work);
	snprintf(out, sizeof(out), "%s/out", work);
	if (fs_rmtree(out, &err) < 0 || mkdir(out, 0755) != 0 || !realpath(out, out_real))
		abort();
	if (!(f = fopen(in, "wb")) || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	(void)arc_is_archive(in);
	(void)arc_extract(in, out, &lim, &err);
	check_tree(out, 0);
	check_work_dir();
	(void)arc_foreach(in, &lim, count_entry, &sum, &err);
	return 0;
}
