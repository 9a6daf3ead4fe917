/* SHA-256 (nettle), as lowercase hex. */
#ifndef PL_SHA_H
#define PL_SHA_H

#include <stddef.h>

#include "err.h"

#define SHA256_HEX 65   /* 64 hex digits and a NUL */

typedef struct pl_sha256 { void *md; } sha256_ctx;

int sha256_init(sha256_ctx *ctx, pl_err *err);
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);
/* Writes the hex digest to hex and releases ctx. */
void sha256_final(sha256_ctx *ctx, char hex[SHA256_HEX]);
/* Releases ctx without a digest (on error paths); safe after final. */
void sha256_abort(sha256_ctx *ctx);

void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX]);
int sha256_file(const char *path, char hex[SHA256_HEX], pl_err *err);

#endif
