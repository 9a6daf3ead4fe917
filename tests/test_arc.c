/* Tests for io/arc.c: extraction of every supported type, refusal of hostile
 * archives, limits, reproducible packing, in-memory reading. Fixtures are
 * made here: tar.gz / tar.zst with arc_pack, tar / zip / hostile ones with
 * Python's tarfile and zipfile. */
#include "check.h"

#include "../io/arc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#define PY "/usr/bin/python3"

static void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

static void write_text(const char *path, const char *text)
{
	write_bytes(path, text, strlen(text));
}

/* Runs a Python fixture script in the current directory. */
static int py(const char *code)
{
	int status;

	write_text("fixture.py", code);
	status = system(PY " fixture.py");
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Deterministic, poorly compressible bytes. */
static void fill_bytes(unsigned char *buf, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		buf[i] = (unsigned char)(seed >> 24);
	}
}

static unsigned char big[300000];
static const char *const pack_names[] = { "a.txt", "sub/b.bin", "empty" };

static void make_pack_inputs(void)
{
	fill_bytes(big, sizeof(big), 7);
	CHECK(mkdir("in", 0755) == 0 && mkdir("in/sub", 0755) == 0, "mkdir");
	write_text("in/a.txt", "hello archive\n");
	write_bytes("in/sub/b.bin", big, sizeof(big));
	write_text("in/empty", "");
}

static void check_pack_outputs(const char *dir)
{
	char path[256];
	struct stat st;
	mode_t mask = umask(0);

	umask(mask);
	snprintf(path, sizeof(path), "%s/a.txt", dir);
	CHECK(check_file_equals(path, "hello archive\n", 14), "%s", path);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == (0644 & ~mask),
	      "mode %o", (unsigned)st.st_mode);
	snprintf(path, sizeof(path), "%s/sub/b.bin", dir);
	CHECK(check_file_equals(path, big, sizeof(big)), "%s", path);
	snprintf(path, sizeof(path), "%s/empty", dir);
	CHECK(check_file_equals(path, "", 0), "%s", path);
}

static void roundtrip(arc_format fmt, const char *name)
{
	pl_err err = {0};

	make_pack_inputs();
	CHECK_OK(arc_pack(name, fmt, "in", pack_names, 3, &err), &err);
	CHECK(arc_is_archive(name) == 1, "%s not seen as archive", name);
	CHECK(mkdir("out", 0755) == 0, "mkdir out");
	CHECK_OK(arc_extract(name, "out", NULL, &err), &err);
	check_pack_outputs("out");
}

static void test_targz_roundtrip(void) { roundtrip(ARC_TAR_GZ, "p.tar.gz"); }
static void test_tarzst_roundtrip(void) { roundtrip(ARC_TAR_ZST, "p.tar.zst"); }

/* A target outside the working directory is addressed by absolute path. */
static void test_extract_absolute_dest(void)
{
	char dest[] = "/tmp/pltest-arcdest-XXXXXX", path[64], cmd[80];
	pl_err err = {0};

	make_pack_inputs();
	CHECK_OK(arc_pack("p.tar.gz", ARC_TAR_GZ, "in", pack_names, 3, &err), &err);
	CHECK(mkdtemp(dest) != NULL, "mkdtemp");
	CHECK_OK(arc_extract("p.tar.gz", dest, NULL, &err), &err);
	check_pack_outputs(dest);
	CHECK(py("import tarfile, io\n"
		 "t = tarfile.open('h.tar', 'w')\n"
		 "i = tarfile.TarInfo('../escape.txt'); i.size = 1\n"
		 "t.addfile(i, io.BytesIO(b'x'))\n"
		 "t.close()\n") == 0, "fixture");
	CHECK(arc_extract("h.tar", dest, NULL, &err) == -PL_EDATA, "%s", err.msg);
	snprintf(path, sizeof(path), "%s/../escape.txt", dest);
	CHECK(!exists(path), "escaped");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dest);
	CHECK(system(cmd) == 0, "rm");
}

static void test_tar_with_links(void)
{
	pl_err err = {0};
	struct stat a, b;
	char target[64] = "";
	ssize_t n;

	CHECK(py("import tarfile, io\n"
		 "t = tarfile.open('x.tar', 'w', format=tarfile.GNU_FORMAT)\n"
		 "def add(name, data):\n"
		 "    i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o600\n"
		 "    t.addfile(i, io.BytesIO(data))\n"
		 "d = tarfile.TarInfo('./dir'); d.type = tarfile.DIRTYPE; t.addfile(d)\n"
		 "add('./dir/f.txt', b'inside')\n"
		 "s = tarfile.TarInfo('dir/link'); s.type = tarfile.SYMTYPE\n"
		 "s.linkname = '../top.txt'; add('top.txt', b'top'); t.addfile(s)\n"
		 "h = tarfile.TarInfo('dir/hard'); h.type = tarfile.LNKTYPE\n"
		 "h.linkname = 'dir/f.txt'; t.addfile(h)\n"
		 "t.close()\n") == 0, "fixture");
	CHECK(arc_is_archive("x.tar") == 1, "tar");
	CHECK(mkdir("out", 0755) == 0, "mkdir");
	CHECK_OK(arc_extract("x.tar", "out", NULL, &err), &err);
	CHECK(check_file_equals("out/dir/f.txt", "inside", 6), "f.txt");
	CHECK(check_file_equals("out/top.txt", "top", 3), "top.txt");
	n = readlink("out/dir/link", target, sizeof(target) - 1);
	CHECK(n == 10 && memcmp(target, "../top.txt", 10) == 0, "link -> %.*s",
	      (int)(n > 0 ? n : 0), target);
	CHECK(check_file_equals("out/dir/link", "top", 3), "through link");
	CHECK(stat("out/dir/f.txt", &a) == 0 && stat("out/dir/hard", &b) == 0 &&
	      a.st_ino == b.st_ino, "hard link shares the inode");
	CHECK((a.st_mode & 07777) == 0644, "file mode %o (archive says 0600)",
	      (unsigned)(a.st_mode & 07777));
	CHECK(stat("out/dir", &a) == 0 && (a.st_mode & 07777) == 0755, "dir mode %o",
	      (unsigned)(a.st_mode & 07777));
}

static void test_zip(void)
{
	pl_err err = {0};

	fill_bytes(big, sizeof(big), 3);
	write_bytes("big.bin", big, sizeof(big));
	CHECK(py("import zipfile\n"
		 "z = zipfile.ZipFile('x.zip', 'w', zipfile.ZIP_DEFLATED)\n"
		 "z.writestr('one/', '')\n"
		 "z.writestr('one/two/a.txt', 'zip text')\n"
		 "z.write('big.bin', 'one/big.bin')\n"
		 "z.writestr('stored.txt', 'plain', compress_type=zipfile.ZIP_STORED)\n"
		 "z.close()\n") == 0, "fixture");
	CHECK(arc_is_archive("x.zip") == 1, "zip");
	CHECK(mkdir("out", 0755) == 0, "mkdir");
	CHECK_OK(arc_extract("x.zip", "out", NULL, &err), &err);
	CHECK(check_file_equals("out/one/two/a.txt", "zip text", 8), "a.txt");
	CHECK(check_file_equals("out/one/big.bin", big, sizeof(big)), "big.bin");
	CHECK(check_file_equals("out/stored.txt", "plain", 5), "stored.txt");
}

/* Builds a one-entry-kind hostile tar with Python code for the entries,
 * extracts it into out/ and expects PL_EDATA with want in the message. */
static void hostile(const char *entries, const char *want)
{
	char code[4096];
	pl_err err = {0};
	int rc;

	snprintf(code, sizeof(code),
		 "import tarfile, io, os\n"
		 "t = tarfile.open('h.tar.gz', 'w:gz', format=tarfile.GNU_FORMAT)\n"
		 "def add(name, data=b'x'):\n"
		 "    i = tarfile.TarInfo(name); i.size = len(data)\n"
		 "    t.addfile(i, io.BytesIO(data))\n"
		 "def link(name, target, kind=tarfile.SYMTYPE):\n"
		 "    i = tarfile.TarInfo(name); i.type = kind; i.linkname = target\n"
		 "    t.addfile(i)\n"
		 "%s"
		 "t.close()\n", entries);
	CHECK(py(code) == 0, "fixture for %s", want);
	CHECK(mkdir("out", 0755) == 0, "mkdir");
	rc = arc_extract("h.tar.gz", "out", NULL, &err);
	CHECK(rc == -PL_EDATA && err.code == PL_EDATA, "rc %d (%s)", rc, err.msg);
	CHECK(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
	CHECK(strstr(err.msg, "h.tar.gz") != NULL, "message names the archive: %s", err.msg);
}

static void test_hostile_dotdot(void)
{
	hostile("add('ok.txt')\nadd('a/../../evil.txt')\n",
		"entry 'a/../../evil.txt' escapes the target directory");
	CHECK(!exists("evil.txt") && !exists("../evil.txt"), "nothing escaped");
	CHECK(exists("out/ok.txt"), "entries before it were extracted");
}

static void test_hostile_absolute(void)
{
	char code[2048], cwd[1024];

	CHECK(getcwd(cwd, sizeof(cwd)) != NULL, "getcwd");
	snprintf(code, sizeof(code), "add('%s/abs.txt')\n", cwd);
	hostile(code, "has an absolute path");
	CHECK(!exists("abs.txt"), "absolute entry not written");
}

static void test_hostile_symlink_out(void)
{
	hostile("link('sub/up', '../../outside')\n", "points outside the target directory");
	CHECK(!exists("out/sub/up"), "link not created");
}

static void test_hostile_symlink_absolute(void)
{
	hostile("link('etc', '/etc')\n", "'etc' -> '/etc' points outside");
}

static void test_hostile_symlink_chain(void)
{
	/* sub/up -> .. stays inside; sub/up2 -> up/.. would climb out through it */
	hostile("link('sub/up', '..')\nlink('sub/up2', 'up/..')\n",
		"'sub/up2' -> 'up/..' has '..' after a name");
}

static void test_hostile_write_through_symlink(void)
{
	hostile("link('d', '.')\nadd('d/x.txt')\n",
		"written through the symbolic link 'd'");
	CHECK(!exists("out/x.txt"), "nothing written through the link");
}

static void test_hostile_hardlink_out(void)
{
	write_text("secret", "s");
	hostile("link('h', '../secret', tarfile.LNKTYPE)\n",
		"hard link 'h' -> '../secret' points outside");
	CHECK(!exists("out/h"), "hard link not created");
}

static void test_hostile_hardlink_missing(void)
{
	hostile("link('h', 'nothere', tarfile.LNKTYPE)\n",
		"does not name a file extracted before it");
}

static void test_hostile_device(void)
{
	hostile("i = tarfile.TarInfo('null'); i.type = tarfile.CHRTYPE\n"
		"i.devmajor = 1; i.devminor = 3; t.addfile(i)\n",
		"entry 'null' is a device file");
	CHECK(!exists("out/null"), "no device node");
}

static void test_hostile_fifo(void)
{
	hostile("i = tarfile.TarInfo('pipe'); i.type = tarfile.FIFOTYPE; t.addfile(i)\n",
		"entry 'pipe' is a FIFO");
}

static void test_limit_entries(void)
{
	arc_limits lim = { .max_entries = 100 };
	pl_err err = {0};
	int rc;

	CHECK(py("import tarfile, io\n"
		 "t = tarfile.open('many.tar', 'w')\n"
		 "for k in range(150):\n"
		 "    i = tarfile.TarInfo('f%03d' % k); i.size = 1\n"
		 "    t.addfile(i, io.BytesIO(b'x'))\n"
		 "t.close()\n") == 0, "fixture");
	CHECK(mkdir("out", 0755) == 0, "mkdir");
	rc = arc_extract("many.tar", "out", &lim, &err);
	CHECK(rc == -PL_EDATA, "rc %d", rc);
	CHECK(strstr(err.msg, "more than 100 entries") != NULL, "%s", err.msg);
	CHECK(exists("out/f099") && !exists("out/f100"), "stopped at the limit");
	lim.max_entries = 150;
	CHECK_OK(arc_extract("many.tar", "out", &lim, &err), &err);
}

static void test_limit_entry_size(void)
{
	arc_limits lim = { .max_entry_bytes = 1 << 20 };
	pl_err err = {0};
	int rc;

	CHECK(py("import tarfile, io\n"
		 "t = tarfile.open('big.tar.gz', 'w:gz')\n"
		 "i = tarfile.TarInfo('big.bin'); i.size = 2 << 20\n"
		 "t.addfile(i, io.BytesIO(bytes(2 << 20)))\n"
		 "t.close()\n") == 0, "fixture");
	CHECK(mkdir("out", 0755) == 0, "mkdir");
	rc = arc_extract("big.tar.gz", "out", &lim, &err);
	CHECK(rc == -PL_EDATA, "rc %d", rc);
	CHECK(strstr(err.msg, "entry 'big.bin' is 2097152 bytes, over the limit of "
		      "1048576") != NULL, "%s", err.msg);
	CHECK(!exists("out/big.bin"), "not written");
}

static int64_t tree_bytes(const char *dir, int n)
{
	char path[256];
	struct stat st;
	int64_t sum = 0;

	for (int k = 0; k < n; k++) {
		snprintf(path, sizeof(path), "%s/z%02d", dir, k);
		if (stat(path, &st) == 0)
			sum += st.st_size;
	}
	return sum;
}

static void test_limit_total_bomb(void)
{
	arc_limits lim = { .max_total_bytes = 8 << 20 };
	pl_err err = {0};
	struct stat st;
	int rc;

	CHECK(py("import tarfile, io\n"
		 "t = tarfile.open('bomb.tar.gz', 'w:gz')\n"
		 "for k in range(30):\n"
		 "    i = tarfile.TarInfo('z%02d' % k); i.size = 1 << 20\n"
		 "    t.addfile(i, io.BytesIO(bytes(1 << 20)))\n"
		 "t.close()\n") == 0, "fixture");
	CHECK(stat("bomb.tar.gz", &st) == 0 && st.st_size < 200000, "compressible");
	CHECK(mkdir("out", 0755) == 0, "mkdir");
	rc = arc_extract("bomb.tar.gz", "out", &lim, &err);
	CHECK(rc == -PL_EDATA, "rc %d", rc);
	CHECK(strstr(err.msg, "add up to more than the limit of 8388608 bytes") != NULL,
	      "%s", err.msg);
	CHECK(tree_bytes("out", 30) <= (8 << 20), "%lld bytes written",
	      (long long)tree_bytes("out", 30));
}

/* A streamed zip (sizes only in data descriptors) with no central directory:
 * the size is not declared up front, so only counting the bytes catches it. */
static void test_limit_undeclared_size(void)
{
	arc_limits lim = { .max_entry_bytes = 1 << 20 };
	pl_err err = {0};
	int rc;

	CHECK(py("import zipfile, io\n"
		 "class Pipe(io.RawIOBase):\n"
		 "    def __init__(self): self.buf = bytearray()\n"
		 "    def writable(self): return True\n"
		 "    def seekable(self): return False\n"
		 "    def write(self, b): self.buf += b; return len(b)\n"
		 "p = Pipe()\n"
		 "z = zipfile.ZipFile(p, 'w', zipfile.ZIP_DEFLATED)\n"
		 "with z.open('zeros.bin', 'w') as f:\n"
		 "    for k in range(4): f.write(bytes(1 << 20))\n"
		 "z.close()\n"
		 "data = bytes(p.buf)\n"
		 "open('s.zip', 'wb').write(data[:data.find(b'PK\\x01\\x02')])\n") == 0,
	      "fixture");
	CHECK(mkdir("out", 0755) == 0, "mkdir");
	rc = arc_extract("s.zip", "out", &lim, &err);
	CHECK(rc == -PL_EDATA, "rc %d: %s", rc, err.msg);
	CHECK(strstr(err.msg, "entry 'zeros.bin' is over the limit of 1048576") != NULL,
	      "%s", err.msg);
	{
		struct stat st;

		CHECK(stat("out/zeros.bin", &st) != 0 || st.st_size <= (1 << 20),
		      "wrote %lld bytes", (long long)st.st_size);
	}
}

static void test_truncated(void)
{
	pl_err err = {0};
	size_t len = 0;
	char *data;
	int rc;

	make_pack_inputs();
	CHECK_OK(arc_pack("t.tar.gz", ARC_TAR_GZ, "in", pack_names, 3, &err), &err);
	data = check_slurp("t.tar.gz", &len);
	CHECK(data && len > 1000, "packed");
	if (!data)
		return;
	write_bytes("cut.tar.gz", data, len / 2);
	free(data);
	CHECK(mkdir("out", 0755) == 0, "mkdir");
	rc = arc_extract("cut.tar.gz", "out", NULL, &err);
	CHECK(rc == -PL_EDATA, "rc %d (%s)", rc, err.msg);
	CHECK(strstr(err.msg, "'cut.tar.gz'") && strstr(err.msg, "truncated"), "%s", err.msg);
}

static void test_not_archive(void)
{
	unsigned char junk[4096];
	pl_err err = {0};
	int rc;

	fill_bytes(junk, sizeof(junk), 11);
	write_bytes("junk.bin", junk, sizeof(junk));
	CHECK(mkdir("out", 0755) == 0, "mkdir");
	rc = arc_extract("junk.bin", "out", NULL, &err);
	CHECK(rc == -PL_EDATA, "rc %d (%s)", rc, err.msg);
	CHECK(strstr(err.msg, "junk.bin") != NULL, "%s", err.msg);
	rc = arc_extract("missing.tar", "out", NULL, &err);
	CHECK(rc == -PL_EIO && strstr(err.msg, "missing.tar"), "rc %d (%s)", rc, err.msg);
}

static void test_is_archive(void)
{
	pl_err err = {0};

	CHECK(py("from PIL import Image\n"
		 "Image.new('RGB', (8, 8), (1, 2, 3)).save('a.png')\n") == 0, "png");
	write_text("empty", "");
	write_text("text.txt", "just some words\nand lines\n");
	CHECK(mkdir("dir", 0755) == 0, "mkdir");
	CHECK(arc_is_archive("a.png") == 0, "png");
	CHECK(arc_is_archive("empty") == 0, "empty file");
	CHECK(arc_is_archive("text.txt") == 0, "text");
	CHECK(arc_is_archive("dir") == 0, "directory");
	CHECK(arc_is_archive("nothere") == 0, "missing");
	make_pack_inputs();
	CHECK_OK(arc_pack("p.tar.zst", ARC_TAR_ZST, "in", pack_names, 1, &err), &err);
	CHECK(arc_is_archive("p.tar.zst") == 1, "tar.zst");
}

static void set_mtime(const char *path, time_t t)
{
	struct timeval tv[2] = { { t, 0 }, { t, 0 } };

	CHECK(utimes(path, tv) == 0, "utimes %s", path);
}

static void reproducible(arc_format fmt)
{
	const char *const names[] = { "sub/b.bin", "a.txt", "empty" };
	size_t len1 = 0, len2 = 0;
	char *one, *two;
	pl_err err = {0};

	make_pack_inputs();
	set_mtime("in/a.txt", 1000000000);
	CHECK_OK(arc_pack("one", fmt, "in", names, 3, &err), &err);
	set_mtime("in/a.txt", 1600000000);
	set_mtime("in/sub/b.bin", 1234567);
	CHECK(chmod("in/a.txt", 0600) == 0, "chmod");
	CHECK_OK(arc_pack("two", fmt, "in", names, 3, &err), &err);
	one = check_slurp("one", &len1);
	two = check_slurp("two", &len2);
	CHECK(one && two && len1 == len2 && memcmp(one, two, len1) == 0,
	      "outputs differ (%zu vs %zu bytes)", len1, len2);
	if (fmt == ARC_TAR_GZ && one && len1 > 10)
		CHECK(memcmp(one + 4, "\0\0\0\0", 4) == 0 && !(one[3] & 0x08),
		      "gzip header has no time or name");
	free(one);
	free(two);
}

static void test_pack_reproducible_gz(void) { reproducible(ARC_TAR_GZ); }
static void test_pack_reproducible_zst(void) { reproducible(ARC_TAR_ZST); }

typedef struct seen {
	int n;
	char names[8][32];
	size_t lens[8];
	int null_data[8];
	int a_ok;
} seen;

static int collect(void *ctx, const char *name, void *data, size_t len,
		   pl_err *err)
{
	seen *s = ctx;

	(void)err;
	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		s->lens[s->n] = len;
		s->null_data[s->n] = data == NULL;
		if (strcmp(name, "a.txt") == 0)
			s->a_ok = len == 14 && memcmp(data, "hello archive\n", 14) == 0;
	}
	s->n++;
	return 0;
}

static int stop_at_second(void *ctx, const char *name, void *data,
			  size_t len, pl_err *err)
{
	(void)name; (void)data; (void)len;
	if (++*(int *)ctx == 2)
		return pl_errorf(err, PL_EFAIL, "stop here");
	return 0;
}

static void test_foreach(void)
{
	arc_limits lim = { .max_entry_bytes = 1000 };
	seen s = {0};
	pl_err err = {0};
	int calls = 0, rc;

	make_pack_inputs();
	CHECK_OK(arc_pack("p.tar.gz", ARC_TAR_GZ, "in", pack_names, 3, &err), &err);
	CHECK_OK(arc_foreach("p.tar.gz", NULL, collect, &s, &err), &err);
	CHECK(s.n == 3, "%d entries", s.n);
	CHECK(strcmp(s.names[0], "a.txt") == 0 && strcmp(s.names[1], "sub/b.bin") == 0 &&
	      strcmp(s.names[2], "empty") == 0, "order %s %s %s", s.names[0],
	      s.names[1], s.names[2]);
	CHECK(s.a_ok, "a.txt content");
	CHECK(s.lens[1] == sizeof(big) && s.lens[2] == 0 && !s.null_data[2], "lengths");
	rc = arc_foreach("p.tar.gz", NULL, stop_at_second, &calls, &err);
	CHECK(rc == -PL_EFAIL && calls == 2 && strcmp(err.msg, "stop here") == 0,
	      "callback error returned: %d %s", rc, err.msg);
	rc = arc_foreach("p.tar.gz", &lim, collect, &s, &err);
	CHECK(rc == -PL_EDATA && strstr(err.msg, "sub/b.bin"), "limit: %s", err.msg);
}

/* Reads only a.txt and sub/b.bin. */
static int want_a_b(void *ctx, const char *name, pl_err *err)
{
	(void)ctx;
	(void)err;
	return strcmp(name, "a.txt") == 0 || strcmp(name, "sub/b.bin") == 0;
}

static int want_fails_at_b(void *ctx, const char *name, pl_err *err)
{
	if (strcmp(name, "sub/b.bin") == 0)
		return pl_errorf(err, PL_EDATA, "no '%s'", name);
	return want_a_b(ctx, name, err);
}

static int collect_stop_b(void *ctx, const char *name, void *data, size_t len, pl_err *err)
{
	collect(ctx, name, data, len, err);
	return strcmp(name, "sub/b.bin") == 0 ? ARC_STOP : 0;
}

static void test_select(void)
{
	const char *const names[] = { "a.txt", "empty", "sub/b.bin", "empty2" };
	seen s = {0}, failing = {0};
	pl_err err = {0};

	make_pack_inputs();
	write_text("in/empty2", "");
	CHECK_OK(arc_pack("s.tar.zst", ARC_TAR_ZST, "in", names, 4, &err), &err);
	CHECK_OK(arc_select("s.tar.zst", NULL, want_a_b, collect_stop_b, &s, &err), &err);
	CHECK(s.n == 2 && strcmp(s.names[0], "a.txt") == 0 && strcmp(s.names[1], "sub/b.bin") == 0,
	      "only the wanted entries, up to the stop: %d (%s %s)", s.n, s.names[0], s.names[1]);
	CHECK(s.a_ok && s.lens[1] == sizeof(big), "their data");
	CHECK(arc_select("s.tar.zst", NULL, want_fails_at_b, collect_stop_b, &failing, &err) == -PL_EDATA &&
	      strcmp(err.msg, "no 'sub/b.bin'") == 0 && failing.n == 1, "want's error: %s", err.msg);
}

static void test_foreach_non_regular(void)
{
	seen s = {0};
	pl_err err = {0};

	CHECK(py("import zipfile\n"
		 "z = zipfile.ZipFile('d.zip', 'w')\n"
		 "z.writestr('dir/', '')\n"
		 "z.writestr('dir/f', 'abc')\n"
		 "z.close()\n") == 0, "fixture");
	CHECK_OK(arc_foreach("d.zip", NULL, collect, &s, &err), &err);
	CHECK(s.n == 2 && s.null_data[0] && s.lens[0] == 0, "dir passed with NULL");
	CHECK(!s.null_data[1] && s.lens[1] == 3, "file passed with data");
}

static void test_pack_refuses(void)
{
	const char *const dotdot[] = { "../x" };
	const char *const dir[] = { "sub" };
	pl_err err = {0};

	make_pack_inputs();
	CHECK(arc_pack("p.tar.gz", ARC_TAR_GZ, "in", dotdot, 1, &err) < 0, "..");
	CHECK(strstr(err.msg, "../x") != NULL, "%s", err.msg);
	CHECK(arc_pack("p.tar.gz", ARC_TAR_GZ, "in", dir, 1, &err) < 0, "dir");
	CHECK(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
	CHECK(!exists("p.tar.gz"), "no partial output left");
	CHECK(arc_pack("nodir/p.tar.gz", ARC_TAR_GZ, "in", pack_names, 1, &err) == -PL_EIO,
	      "unwritable output: %s", err.msg);
}

/* ---- arc_stream ---- */

/* What a stream test saw: names in order, with each file's bytes checked
 * against the file at its offset when it has one. */
typedef struct stream_seen {
	char names[4096];
	int files, at_offset, stop_after;
	const char *path;      /* the archive, for the offsets */
	const char *skip;      /* an inner archive (folder) to skip */
} stream_seen;

static int seen_want(void *ctx, const arc_member *m, pl_err *err)
{
	stream_seen *s = ctx;
	size_t len = strlen(s->names);

	(void)err;
	if (s->stop_after && s->files == s->stop_after)
		return ARC_STOP;
	snprintf(s->names + len, sizeof(s->names) - len, "%s%s%s", len ? " " : "", m->name,
		 m->is_dir ? "/" : "");
	return s->skip && !strcmp(m->name, s->skip) ? ARC_SKIP : ARC_READ;
}

static int seen_take(void *ctx, const arc_member *m, void *data, size_t len, pl_err *err)
{
	stream_seen *s = ctx;
	char buf[256];
	int fd;

	(void)err;
	s->files++;
	if (s->path && m->offset >= 0 && len < sizeof(buf) && (fd = open(s->path, O_RDONLY)) >= 0) {
		s->at_offset += pread(fd, buf, len, m->offset) == (ssize_t)len &&
				!memcmp(buf, data, len);
		close(fd);
	}
	free(data);
	return 0;
}

static const char *nested_py =
	"import io, tarfile, zipfile\n"
	"def tar(members, mode='w'):\n"
	"    b = io.BytesIO()\n"
	"    with tarfile.open(fileobj=b, mode=mode) as t:\n"
	"        for n, d in members:\n"
	"            ti = tarfile.TarInfo(n); ti.size = len(d); t.addfile(ti, io.BytesIO(d))\n"
	"    return b.getvalue()\n"
	"z = io.BytesIO()\n"
	"with zipfile.ZipFile(z, 'w') as f: f.writestr('x/3.txt', b'three')\n"
	"open('outer.tar', 'wb').write(tar([('a.tar', tar([('1.txt', b'one'), ('2.txt', b'two')])),\n"
	"    ('b.tar.gz', tar([('2.txt', b'deux')], 'w:gz')), ('c.zip', z.getvalue()),\n"
	"    ('top.txt', b'top')]))\n"
	"open('deep.tar', 'wb').write(tar([('a.tar', tar([('b.tar', tar([('1.txt', b'1')]))]))]))\n"
	"open('esc.tar', 'wb').write(tar([('a.tar', tar([('../1.txt', b'1')]))]))\n"
	"open('many.tar', 'wb').write(tar([(c + '.tar', tar([(str(i), b'x') for i in range(4)])) for c in 'abc']))\n";

static void test_stream_nested(void)
{
	stream_seen s = { .path = "outer.tar" };
	pl_err err = { 0 };

	CHECK(py(nested_py) == 0, "fixture");
	CHECK_OK(arc_stream("outer.tar", NULL, seen_want, seen_take, &s, &err), &err);
	CHECK(!strcmp(s.names, "a/ a/1.txt a/2.txt b/ b/2.txt c/ c/x/3.txt top.txt"), "%s", s.names);
	CHECK(s.files == 5, "%d", s.files);
	/* top.txt and the members of the uncompressed inner tar lie at their offsets */
	CHECK(s.at_offset == 3, "%d at their offsets", s.at_offset);
}

static void test_stream_skip_and_stop(void)
{
	stream_seen s = { .path = "outer.tar", .skip = "a" }, t = { .path = "outer.tar", .stop_after = 1 };
	pl_err err = { 0 };

	CHECK(py(nested_py) == 0, "fixture");
	CHECK_OK(arc_stream("outer.tar", NULL, seen_want, seen_take, &s, &err), &err);
	CHECK(!strcmp(s.names, "a/ b/ b/2.txt c/ c/x/3.txt top.txt"), "an inner archive skipped: %s",
	      s.names);
	CHECK_OK(arc_stream("outer.tar", NULL, seen_want, seen_take, &t, &err), &err);
	CHECK(t.files == 1 && !strcmp(t.names, "a/ a/1.txt"), "stopped: %s", t.names);
}

static void test_stream_hostile(void)
{
	arc_limits lim = { .max_entries = 12 };
	stream_seen s = { 0 };
	pl_err err = { 0 };

	CHECK(py(nested_py) == 0, "fixture");
	CHECK(arc_stream("deep.tar", NULL, seen_want, seen_take, &s, &err) == -PL_EDATA, "depth 3");
	CHECK(strstr(err.msg, "'a.tar:b.tar' is an archive inside an inner archive"), "%s", err.msg);
	CHECK(arc_stream("esc.tar", NULL, seen_want, seen_take, &s, &err) == -PL_EDATA, "escape");
	CHECK(strstr(err.msg, "'a.tar:../1.txt' escapes the archive"), "%s", err.msg);
	/* 3 inner archives of 4: 15 entries in all, 3 or 4 at each level */
	CHECK(arc_stream("many.tar", &lim, seen_want, seen_take, &s, &err) == -PL_EDATA, "entries");
	CHECK(strstr(err.msg, "more than 12 entries"), "%s", err.msg);
	lim.max_entries = 15;
	CHECK_OK(arc_stream("many.tar", &lim, seen_want, seen_take, &s, &err), &err);
}

static void test_archive_name(void)
{
	size_t stem = 0;

	CHECK(arc_has_archive_name("n01440764.tar", &stem) && stem == 9, "%zu", stem);
	CHECK(arc_has_archive_name("x.TAR.GZ", &stem) && stem == 1, "%zu", stem);
	CHECK(arc_has_archive_name("x.tzst", &stem) && stem == 1, "%zu", stem);
	CHECK(!arc_has_archive_name(".tar", NULL) && !arc_has_archive_name("x.png", NULL), "names");
}

int main(void)
{
	umask(022);
	RUN(test_stream_nested);
	RUN(test_stream_skip_and_stop);
	RUN(test_stream_hostile);
	RUN(test_archive_name);
	RUN(test_targz_roundtrip);
	RUN(test_tarzst_roundtrip);
	RUN(test_extract_absolute_dest);
	RUN(test_tar_with_links);
	RUN(test_zip);
	RUN(test_hostile_dotdot);
	RUN(test_hostile_absolute);
	RUN(test_hostile_symlink_out);
	RUN(test_hostile_symlink_absolute);
	RUN(test_hostile_symlink_chain);
	RUN(test_hostile_write_through_symlink);
	RUN(test_hostile_hardlink_out);
	RUN(test_hostile_hardlink_missing);
	RUN(test_hostile_device);
	RUN(test_hostile_fifo);
	RUN(test_limit_entries);
	RUN(test_limit_entry_size);
	RUN(test_limit_total_bomb);
	RUN(test_limit_undeclared_size);
	RUN(test_truncated);
	RUN(test_not_archive);
	RUN(test_is_archive);
	RUN(test_pack_reproducible_gz);
	RUN(test_pack_reproducible_zst);
	RUN(test_foreach);
	RUN(test_foreach_non_regular);
	RUN(test_select);
	RUN(test_pack_refuses);
	return check_report("test_arc");
}
