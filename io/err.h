/* Error records: functions that can fail return a negative PL_E* code and
 * fill a caller-supplied pl_err with a human message naming what is at fault. */
#ifndef PL_ERR_H
#define PL_ERR_H

#include <stdarg.h>

enum {
	PL_OK = 0,
	PL_EIO = 1,      /* file system or stream failure */
	PL_EUSAGE = 2,   /* bad command line or configuration */
	PL_EDATA = 3,    /* bad input data: corrupt image, hostile archive ... */
	PL_ENOMEM = 4,   /* allocation failed */
	PL_ETEMP = 5,    /* temporary failure (network), worth retrying */
	PL_EGATE = 6,    /* the validation gate was not met */
	PL_ELOCK = 7,    /* the workspace is held by another process */
	PL_EINTR = 8,    /* interrupted by a signal */
	PL_EFAIL = 9     /* anything else that makes a stage fail */
};

typedef struct pl_err {
	int code;        /* one of PL_E*, 0 when no error was recorded */
	char msg[1024];  /* lowercase message, no trailing newline */
} pl_err;

/* Records a formatted message and code in err (which may be NULL);
 * returns -code so callers can write `return pl_errorf(...)`. */
int pl_errorf(pl_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#ifdef __clang_analyzer__   /* what it returns, so error paths stay error paths */
#define pl_errorf(err, code, ...) (pl_errorf((err), (code), __VA_ARGS__), -(code))
#endif

/* Prefixes the message already in err with a formatted context string
 * ("prepare: " + msg); returns -err->code. */
int pl_errprefix(pl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Clears err. */
void pl_errclear(pl_err *err);

#endif
