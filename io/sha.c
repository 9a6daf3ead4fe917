/* SHA-256 through OpenSSL's EVP interface. */
#include "sha.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

int sha256_init(sha256_ctx *ctx, pl_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	ctx->md = md;
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		ctx->md = NULL;
		return pl_errorf(err, PL_ENOMEM, "cannot set up sha-256");
	}
	return 0;
}

void sha256_update(sha256_ctx *ctx, const void *data, size_t len)
{
	EVP_DigestUpdate(ctx->md, data, len);
}

void sha256_final(sha256_ctx *ctx, char hex[SHA256_HEX])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(ctx->md, digest, &n);
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	sha256_abort(ctx);
}

void sha256_abort(sha256_ctx *ctx)
{
	EVP_MD_CTX_free(ctx->md);
	ctx->md = NULL;
}

void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX])
{
	unsigned char digest[32];

	EVP_Digest(data, len, digest, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
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
