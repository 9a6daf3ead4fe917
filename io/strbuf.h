/* A growable string (after curl's dynbuf): appends that fail mark the
 * buffer failed and are ignored from then on, so a builder checks once, at
 * the end, with strbuf_take or strbuf_write_file. */
#ifndef PL_STRBUF_H
#define PL_STRBUF_H

#include <stddef.h>

#include "err.h"

typedef struct strbuf {
	char *s;      /* the text, NUL-terminated; NULL while nothing is appended */
	size_t len;   /* bytes of text, without the NUL */
	size_t cap;   /* bytes allocated at s */
	int failed;   /* an append ran out of memory: the text is incomplete */
} strbuf;

/* Makes b empty (no allocation). */
void strbuf_init(strbuf *b);

/* Appends n bytes of s; returns 0, or -PL_ENOMEM (b is then failed). */
int strbuf_append(strbuf *b, const char *s, size_t n);

/* Appends printf-formatted text; returns 0, or -PL_ENOMEM (b is then failed). */
int strbuf_appendf(strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The text so far ("" when empty); valid until the next append or release. */
const char *strbuf_str(const strbuf *b);

/* Hands the text over (caller frees; "" when empty) and leaves b empty;
 * *len (may be NULL) gets its length. NULL when an append failed (b is
 * released then). */
char *strbuf_take(strbuf *b, size_t *len);

/* Writes the text to path with fs_write_file, then releases b. A failed
 * buffer writes nothing: -PL_ENOMEM naming path. */
int strbuf_write_file(strbuf *b, const char *path, pl_err *err);

/* Frees the text and makes b empty; on an empty b a no-op. */
void strbuf_release(strbuf *b);

#endif
