/* Prepare from an archive that cannot be read in place (compressed, zip):
 * passes over its stream decode the members of the samples wanted, holding
 * the data of a window of samples beyond the last written, so that records
 * are written in sample order with memory bounded by the window. An archive
 * in the samples' order (tar --sort=name, ImageNet's) takes one pass; each
 * further pass picks up what an archive in another order left behind. */
#include "prepare_job.h"

#include <stdlib.h>
#include <string.h>

#include "../io/arc.h"
#include "../io/fs.h"

#define STREAM_WINDOW 4096                      /* samples held at most ... */
#define STREAM_BUDGET ((size_t)256 << 20)       /* ... and their bytes, beyond the next batch */

/* One channel file of a sample wanted, by its path in the archive. */
typedef struct wanted {
	char *path;
	int sample, ch;
} wanted;

typedef struct stream {
	prepare_job *j;
	wanted *v;
	size_t n;
	int written;   /* samples before this are written */
	int batch;
	size_t held;   /* bytes of data held in the window */
} stream;

static int cmp_wanted(const void *a, const void *b)
{
	const wanted *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : x->sample != y->sample ? x->sample - y->sample : x->ch - y->ch;
}

/* Index of the first wanted path not before key. */
static size_t lower_bound(const stream *st, const char *key)
{
	size_t lo = 0, hi = st->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(st->v[mid].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct prepare_raw *raw_of(const stream *st, const wanted *w)
{
	prepare_job *j = st->j;

	return &j->raw[(size_t)(w->sample % j->window) * j->set->n_channels + w->ch];
}

/* 1 when w (of size bytes) is wanted in this window and not held yet: the
 * next batch always is, the rest while the budget lasts. */
static int in_window(const stream *st, const wanted *w, int64_t size)
{
	return w->sample >= st->written && w->sample < st->written + st->j->window &&
	       !raw_of(st, w)->data && (w->sample < st->written + st->batch ||
					st->held + (size_t)(size > 0 ? size : 0) <= STREAM_BUDGET);
}

static int want(void *ctx, const arc_member *m, pl_err *err)
{
	stream *st = ctx;
	size_t len = strlen(m->name);

	if (st->written == st->j->hi)
		return ARC_STOP;
	if (m->is_dir) {   /* an inner archive is read when it holds a sample not written */
		for (size_t i = lower_bound(st, m->name); i < st->n; i++) {
			if (strncmp(st->v[i].path, m->name, len))
				break;
			if (st->v[i].path[len] == '/' && st->v[i].sample >= st->written)
				return ARC_READ;
		}
		return ARC_SKIP;
	}
	for (size_t i = lower_bound(st, m->name); i < st->n && !strcmp(st->v[i].path, m->name); i++)
		if (in_window(st, &st->v[i], m->size)) {
			if (m->size > (int64_t)IMG_MAX_FILE)
				return pl_errorf(err, PL_EDATA, "'%s:%s' is %lld bytes, more than an "
						 "image may be (%zu)", st->j->src->shown, m->shown,
						 (long long)m->size, IMG_MAX_FILE);
			return ARC_READ;
		}
	return ARC_SKIP;
}

/* Decodes and writes the batches at the front of the window whose data is
 * all there. */
static int flush(stream *st, pl_err *err)
{
	prepare_job *j = st->j;
	int n_ch = j->set->n_channels, rc = 0;

	while (st->written < j->hi && rc == 0) {
		int n = j->hi - st->written < st->batch ? j->hi - st->written : st->batch;
		for (int k = 0; k < n; k++)
			for (int ch = 0; ch < n_ch; ch++)
				if (!j->raw[(size_t)((st->written + k) % j->window) * n_ch + ch].data)
					return 0;
		rc = prepare_job_batch(j, st->written, n, err);
		for (int k = 0; k < n; k++)
			for (int ch = 0; ch < n_ch; ch++) {
				struct prepare_raw *r = &j->raw[(size_t)((st->written + k) % j->window) *
								 n_ch + ch];
				st->held -= r->len;
				free(r->data);
				*r = (struct prepare_raw){ 0 };
			}
		st->written += n;
	}
	return rc;
}

static int take(void *ctx, const arc_member *m, void *data, size_t len, pl_err *err)
{
	stream *st = ctx;
	int used = 0;

	for (size_t i = lower_bound(st, m->name); i < st->n && !strcmp(st->v[i].path, m->name); i++) {
		struct prepare_raw *r = raw_of(st, &st->v[i]);
		if (!in_window(st, &st->v[i], (int64_t)len))
			continue;
		r->data = used ? malloc(len + 1) : data;
		if (!r->data)
			return pl_errorf(err, PL_ENOMEM, "out of memory reading '%s'", m->shown);
		if (r->data != data)
			memcpy(r->data, data, len + 1);
		r->len = len;
		st->held += len;
		used = 1;
	}
	if (!used)
		free(data);
	return flush(st, err);
}

/* The archive paths of the channel files of samples [lo, hi), sorted. */
static int list_wanted(stream *st, pl_err *err)
{
	prepare_job *j = st->j;
	int n_ch = j->set->n_channels;
	char path[PATH_MAX];

	if (!(st->v = calloc((size_t)(j->hi - j->lo) * n_ch + 1, sizeof(wanted))))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	for (int i = j->lo; i < j->hi; i++)
		for (int ch = 0; ch < n_ch; ch++) {
			if (tree_join(path, sizeof(path), err, j->src->root, j->set->s[i].files[ch]) < 0)
				return -PL_EDATA;
			if (!(st->v[st->n].path = strdup(path)))
				return pl_errorf(err, PL_ENOMEM, "out of memory");
			st->v[st->n].sample = i;
			st->v[st->n++].ch = ch;
		}
	if (st->n)
		qsort(st->v, st->n, sizeof(wanted), cmp_wanted);
	return 0;
}

int prepare_job_stream(prepare_job *j, pl_err *err)
{
	stream st = { .j = j, .written = j->lo, .batch = prepare_job_batch_size(j) };
	int rc, passes = 0;

	j->window = STREAM_WINDOW > st.batch ? STREAM_WINDOW : st.batch;
	if (!(j->raw = calloc((size_t)j->window * j->set->n_channels, sizeof(*j->raw))))
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	rc = list_wanted(&st, err);
	while (rc == 0 && st.written < j->hi) {
		int before = st.written;
		rc = arc_stream(j->src->archive, &j->src->lim, want, take, &st, err);
		passes++;
		if (rc == 0 && st.written < j->hi && st.written == before)
			rc = pl_errorf(err, PL_EDATA, "'%s': sample %d ('%s') was not found in the "
				       "archive (was it changed while it was read?)", j->src->archive,
				       st.written, j->set->s[st.written].files[0]);
	}
	if (passes > 1)
		log_info("read %s in %d passes: its members are not in the samples' order "
			 "(repack it sorted, e.g. tar --sort=name, to read it once)", j->src->archive,
			 passes);
	for (size_t i = 0; i < (size_t)j->window * j->set->n_channels; i++)
		free(j->raw[i].data);
	free(j->raw);
	j->raw = NULL;
	for (size_t i = 0; i < st.n; i++)
		free(st.v[i].path);
	free(st.v);
	return rc;
}
