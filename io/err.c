/* Error records shared by io/ and stages/. */
#include "err.h"

#include <stdio.h>
#include <string.h>

int (pl_errorf)(pl_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -code;
}

int pl_errprefix(pl_err *err, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* a message too long for err->msg is cut; < 0 is an encoding error */
	if (snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old) < 0)
		memcpy(err->msg, old, sizeof(old));
	return -err->code;
}

void pl_errclear(pl_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
