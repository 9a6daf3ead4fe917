/* The growable string of strbuf.h. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#define STRBUF_FIRST 256   /* the first allocation; each growth doubles */

void strbuf_init(strbuf *b)
{
	memset(b, 0, sizeof(*b));
}

/* Makes room for need more bytes and a NUL. */
static int reserve(strbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : STRBUF_FIRST;
	char *grown;

	if (b->failed)
		return -PL_ENOMEM;
	if (need < b->cap - b->len)
		return 0;
	if (need > ((size_t)-1) / 4 - b->len)
		goto fail;
	while (cap - b->len <= need)
		cap *= 2;
	if (!(grown = realloc(b->s, cap)))
		goto fail;
	b->s = grown;
	b->cap = cap;
	return 0;
fail:
	b->failed = 1;
	return -PL_ENOMEM;
}

int strbuf_append(strbuf *b, const char *s, size_t n)
{
	if (reserve(b, n) < 0)
		return -PL_ENOMEM;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

int strbuf_appendf(strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int need;

	if (b->failed)
		return -PL_ENOMEM;
	va_start(ap, fmt);
	need = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (need < 0) {
		b->failed = 1;
		return -PL_ENOMEM;
	}
	if (reserve(b, (size_t)need) < 0)
		return -PL_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)need;
	return 0;
}

const char *strbuf_str(const strbuf *b)
{
	return b->s ? b->s : "";
}

char *strbuf_take(strbuf *b, size_t *len)
{
	char *text = b->s;

	if (b->failed) {
		strbuf_release(b);
		return NULL;
	}
	if (!text && !(text = calloc(1, 1)))
		return NULL;
	if (len)
		*len = b->len;
	strbuf_init(b);
	return text;
}

int strbuf_write_file(strbuf *b, const char *path, pl_err *err)
{
	int rc = b->failed ? pl_errorf(err, PL_ENOMEM, "out of memory writing '%s'", path) :
		 fs_write_file(path, strbuf_str(b), b->len, err);

	strbuf_release(b);
	return rc;
}

void strbuf_release(strbuf *b)
{
	free(b->s);
	strbuf_init(b);
}
