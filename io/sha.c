/* SHA-256 through nettle (already loaded for libarchive; libcrypto cost a
 * cold process thousands of symbol bindings for this one digest). */
#include <nettle/sha2.h>
/* nettle names its functions sha256_init ... through macros; ours keep
 * those names */
#undef sha256_init
#undef sha256_update
#undef sha256_digest

#include "sha.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void to_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char hex[SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[2 * SHA256_DIGEST_SIZE] = '\0';
}

int sha256_init(sha256_ctx *ctx, pl_err *err)
{
	struct sha256_ctx *md = malloc(sizeof(*md));

	ctx->md = md;
	if (!md)
		return pl_errorf(err, PL_ENOMEM, "cannot set up sha-256");
	nettle_sha256_init(md);
	return 0;
}

void sha256_update(sha256_ctx *ctx, const void *data, size_t len)
{
	nettle_sha256_update(ctx->md, len, data);
}

void sha256_final(sha256_ctx *ctx, char hex[SHA256_HEX])
{
	uint8_t digest[SHA256_DIGEST_SIZE];

	nettle_sha256_digest(ctx->md, sizeof(digest), digest);
	to_hex(digest, hex);
	sha256_abort(ctx);
}

void sha256_abort(sha256_ctx *ctx)
{
	free(ctx->md);
	ctx->md = NULL;
}

void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX])
{
	struct sha256_ctx md;
	uint8_t digest[SHA256_DIGEST_SIZE];

	nettle_sha256_init(&md);
	nettle_sha256_update(&md, len, data);
	nettle_sha256_digest(&md, sizeof(digest), digest);
	to_hex(digest, hex);
}
int sha256_file(const char *path, char hex[SHA256_HEX], pl_err *err)
{
	static __thread unsigned char buf[1 << 16];
	sha256_ctx ctx;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pl_errorf(err, PL_EIO, "cannot open '%s': %s", path, strerror(errno));
	if ((rc = sha256_init(&ctx, err)) < 0)
		goto out;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pl_errorf(err, PL_EIO, "cannot read '%s': %s", path, strerror(errno));
			sha256_abort(&ctx);
			goto out;
		}
		sha256_update(&ctx, buf, (size_t)n);
	}
	sha256_final(&ctx, hex);
out:
	close(fd);
	return rc;
}
