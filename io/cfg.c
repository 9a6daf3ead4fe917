/* Configuration against a declared schema; files are read with libinih. */
#include "cfg.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "suggest.h"

struct cfg {
	const cfg_key *schema;
	size_t n;
	char **values;      /* current value of each key, owned */
	char **origins;     /* where it came from, owned */
	unsigned char *seen_in_file;   /* for duplicate detection while loading */
};

cfg *cfg_new(const cfg_key *schema, size_t n)
{
	cfg *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->schema = schema;
	c->n = n;
	c->values = calloc(n, sizeof(char *));
	c->origins = calloc(n, sizeof(char *));
	c->seen_in_file = calloc(n, 1);
	if (!c->values || !c->origins || !c->seen_in_file) {
		cfg_free(c);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		c->values[i] = strdup(schema[i].def);
		c->origins[i] = strdup("default");
		if (!c->values[i] || !c->origins[i]) {
			cfg_free(c);
			return NULL;
		}
	}
	return c;
}

void cfg_free(cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		if (c->values)
			free(c->values[i]);
		if (c->origins)
			free(c->origins[i]);
	}
	free(c->values);
	free(c->origins);
	free(c->seen_in_file);
	free(c);
}

static long find_key(const cfg *c, const char *section, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->schema[i].section, section) && !strcmp(c->schema[i].key, key))
			return (long)i;
	return -1;
}

static int section_exists(const cfg *c, const char *section)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->schema[i].section, section))
			return 1;
	return 0;
}

/* Writes " (did you mean 'x'?)" into out for the nearest key of section
 * (or nearest section when section is NULL), or "" when none is close. */
static void suggest(const cfg *c, const char *section, const char *word, char *out, size_t n)
{
	suggestion s;

	suggest_init(&s, word);
	for (size_t i = 0; i < c->n; i++)
		if (!section || !strcmp(c->schema[i].section, section))
			suggest_add(&s, section ? c->schema[i].key : c->schema[i].section);
	out[0] = '\0';
	if (suggest_best(&s))
		snprintf(out, n, " (did you mean '%s'?)", suggest_best(&s));
}

/* Lists the keys of a section into out, comma-separated. */
static void list_keys(const cfg *c, const char *section, char *out, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->n && len < n; i++)
		if (!strcmp(c->schema[i].section, section))
			len += (size_t)snprintf(out + len, n - len, "%s%s", len ? ", " : "",
						c->schema[i].key);
}

/* Checks value against key's type and range; "where" prefixes messages. */
static int check_value(const cfg_key *k, const char *value, const char *where, pl_err *err)
{
	char *end;

	switch (k->type) {
	case CFG_STR:
		return 0;
	case CFG_BOOL:
		if (cfg_word_in(value, "true|false|yes|no|1|0|on|off"))
			return 0;
		return pl_errorf(err, PL_EUSAGE, "%s: %s.%s = '%s' is not a boolean (true or false)",
				 where, k->section, k->key, value);
	case CFG_ENUM:
		if (cfg_word_in(value, k->allowed))
			return 0;
		return pl_errorf(err, PL_EUSAGE, "%s: %s.%s = '%s' is not allowed (one of: %s)",
				 where, k->section, k->key, value, k->allowed);
	case CFG_INT:
	case CFG_FLOAT: {
		errno = 0;
		double v = k->type == CFG_INT ? (double)strtol(value, &end, 10) : strtod(value, &end);
		if (errno == ERANGE && end != value && *end == '\0')
			return pl_errorf(err, PL_EUSAGE, "%s: %s.%s = %s is out of range (%g to %g)",
					 where, k->section, k->key, value, k->min, k->max);
		if (errno || end == value || *end != '\0' || !isfinite(v))
			return pl_errorf(err, PL_EUSAGE, "%s: %s.%s = '%s' is not %s", where,
					 k->section, k->key, value,
					 k->type == CFG_INT ? "an integer" : "a number");
		if (v < k->min || v > k->max)
			return pl_errorf(err, PL_EUSAGE, "%s: %s.%s = %s is out of range (%g to %g)",
					 where, k->section, k->key, value, k->min, k->max);
		return 0;
	}
	}
	return 0;
}

/* The canonical spelling of a valid value, so that 0.010, 1e-2 and 0.01
 * (or yes and true) are the same configuration: integers in decimal,
 * numbers in the shortest form that reads back exactly, booleans as
 * true/false; strings as given. Returns value or buf. */
static const char *canonical(const cfg_key *k, const char *value, char *buf, size_t n)
{
	if (k->type == CFG_INT) {
		snprintf(buf, n, "%ld", strtol(value, NULL, 10));
	} else if (k->type == CFG_FLOAT) {
		double v = strtod(value, NULL);
		for (int digits = 1; digits <= 17; digits++) {
			snprintf(buf, n, "%.*g", digits, v == 0.0 ? 0.0 : v);   /* no "-0" */
			if (strtod(buf, NULL) == v)
				break;
		}
	} else if (k->type == CFG_BOOL) {
		snprintf(buf, n, "%s", cfg_word_in(value, "true|yes|1|on") ? "true" : "false");
	} else {
		return value;
	}
	return buf;
}

/* Validates and stores one value; where is "file:line" or "--set". */
static int assign(cfg *c, const char *section, const char *key, const char *value,
		  const char *where, pl_err *err)
{
	char hint[600], keys[512];
	long i = find_key(c, section, key);
	int rc;

	if (!*section)
		return pl_errorf(err, PL_EUSAGE, "%s: '%s' is outside any section: put it under its "
				 "[section] header", where, key);
	if (!section_exists(c, section)) {
		suggest(c, NULL, section, hint, sizeof(hint));
		return pl_errorf(err, PL_EUSAGE, "%s: unknown section [%s]%s", where, section, hint);
	}
	if (i < 0) {
		suggest(c, section, key, hint, sizeof(hint));
		if (!hint[0]) {
			list_keys(c, section, keys, sizeof(keys));
			snprintf(hint, sizeof(hint), " (keys: %s)", keys);
		}
		return pl_errorf(err, PL_EUSAGE, "%s: unknown key '%s' in [%s]%s", where, key,
				 section, hint);
	}
	if ((rc = check_value(&c->schema[i], value, where, err)) < 0)
		return rc;
	char buf[40], *v = strdup(canonical(&c->schema[i], value, buf, sizeof(buf))),
	     *o = strdup(where);
	if (!v || !o) {
		free(v);
		free(o);
		return pl_errorf(err, PL_ENOMEM, "out of memory");
	}
	free(c->values[i]);
	free(c->origins[i]);
	c->values[i] = v;
	c->origins[i] = o;
	return 0;
}

typedef struct load_state {
	cfg *c;
	const char *path;
	FILE *f;
	int line;             /* lines read so far */
	int continuation;     /* the last line read began with whitespace */
	char last_key[64];    /* key of the last value line, "" after a section header */
	pl_err *err;
	int rc;
} load_state;

/* Checks a "[section]" line: inih reports only keys, so a misspelt section
 * with no keys would otherwise pass unnoticed. */
static int check_section_line(load_state *st, const char *line)
{
	char name[64], where[600], hint[96];
	const char *p = line + strspn(line, " \t"), *end;

	if (*p == '[' && !strchr(p, ']')) {
		st->rc = pl_errorf(st->err, PL_EUSAGE, "%s:%d: section header '%.*s' has no closing "
				   "']'", st->path, st->line, (int)strcspn(p, "\r\n"), p);
		return -1;
	}
	if (*p != '[' || !(end = strchr(p, ']')) || end - p - 1 >= (long)sizeof(name))
		return 0;
	snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
	st->last_key[0] = '\0';
	if (section_exists(st->c, name))
		return 0;
	snprintf(where, sizeof(where), "%s:%d", st->path, st->line);
	suggest(st->c, NULL, name, hint, sizeof(hint));
	st->rc = pl_errorf(st->err, PL_EUSAGE, "%s: unknown section [%s]%s", where, name, hint);
	return -1;
}

/* inih's line reader: counts lines so the handler knows where it is. */
static char *read_line(char *buf, int size, void *stream)
{
	load_state *st = stream;
	char *got = fgets(buf, size, st->f);

	if (got) {
		st->line++;
		st->continuation = (buf[0] == ' ' || buf[0] == '\t') && buf[strspn(buf, " \t\r\n")];
		if (check_section_line(st, buf) < 0)
			return NULL;
	}
	return got;
}

static int on_value(void *user, const char *section, const char *key, const char *value)
{
	load_state *st = user;
	char where[600];
	long i;

	if (st->rc < 0)      /* inih goes on after an error: keep the first one */
		return 0;
	snprintf(where, sizeof(where), "%s:%d", st->path, st->line);
	i = find_key(st->c, section, key);
	int continues = st->continuation && !strcmp(st->last_key, key);
	snprintf(st->last_key, sizeof(st->last_key), "%s", key);
	if (i >= 0 && continues) {
		/* a continuation line: append to the value of the key above */
		size_t len = strlen(st->c->values[i]) + strlen(value) + 2;
		char *joined = malloc(len);
		if (!joined) {
			st->rc = pl_errorf(st->err, PL_ENOMEM, "out of memory");
			return 0;
		}
		snprintf(joined, len, "%s %s", st->c->values[i], value);
		st->rc = assign(st->c, section, key, joined, st->c->origins[i], st->err);
		free(joined);
		return st->rc == 0;
	}
	if (i >= 0 && st->c->seen_in_file[i]) {
		st->rc = pl_errorf(st->err, PL_EUSAGE, "%s: duplicate key '%s' in [%s] (first set at %s)",
				   where, key, section, st->c->origins[i]);
		return 0;
	}
	st->rc = assign(st->c, section, key, value, where, st->err);
	if (st->rc == 0)
		st->c->seen_in_file[i] = 1;
	return st->rc == 0;
}

int cfg_load_file(cfg *c, const char *path, pl_err *err)
{
	load_state st = { .c = c, .path = path, .err = err };
	int line;

	if (!(st.f = fopen(path, "r")))
		return pl_errorf(err, PL_EUSAGE, "cannot open config file '%s': %s", path,
				 strerror(errno));
	memset(c->seen_in_file, 0, c->n);
	line = ini_parse_stream(read_line, &st, on_value, &st);
	fclose(st.f);
	if (st.rc < 0)
		return st.rc;
	if (line > 0)
		return pl_errorf(err, PL_EUSAGE, "%s:%d: cannot parse this line (expected "
				 "'[section]', 'key = value' or a '; comment')", path, line);
	if (line < 0)
		return pl_errorf(err, PL_EIO, "cannot read config file '%s'", path);
	return 0;
}

int cfg_set(cfg *c, const char *assignment, const char *origin, pl_err *err)
{
	char section[64], key[64];
	const char *dot = strchr(assignment, '.'), *eq = strchr(assignment, '=');

	if (!dot || !eq || dot > eq || dot - assignment >= (long)sizeof(section) ||
	    eq - dot - 1 >= (long)sizeof(key) || dot == assignment || eq == dot + 1)
		return pl_errorf(err, PL_EUSAGE, "%s: '%s' is not of the form section.key=value",
				 origin, assignment);
	snprintf(section, sizeof(section), "%.*s", (int)(dot - assignment), assignment);
	snprintf(key, sizeof(key), "%.*s", (int)(eq - dot - 1), dot + 1);
	return assign(c, section, key, eq + 1, origin, err);
}

static long must_find(const cfg *c, const char *section, const char *key)
{
	long i = find_key(c, section, key);

	assert(i >= 0 && "config key not in the schema");
	return i;
}

const char *cfg_str(const cfg *c, const char *section, const char *key)
{
	return c->values[must_find(c, section, key)];
}

long cfg_int(const cfg *c, const char *section, const char *key)
{
	return strtol(cfg_str(c, section, key), NULL, 10);
}

double cfg_float(const cfg *c, const char *section, const char *key)
{
	return strtod(cfg_str(c, section, key), NULL);
}

int cfg_bool(const cfg *c, const char *section, const char *key)
{
	return cfg_word_in(cfg_str(c, section, key), "true|yes|1|on");
}

const char *cfg_origin(const cfg *c, const char *section, const char *key)
{
	return c->origins[must_find(c, section, key)];
}

void cfg_visit(const cfg *c, const char *section, cfg_visit_fn fn, void *ctx)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->schema[i].section, section))
			fn(ctx, &c->schema[i], c->values[i]);
}

const cfg_key *cfg_schema(const cfg *c, size_t *n)
{
	*n = c->n;
	return c->schema;
}

int cfg_word_in(const char *word, const char *allowed)
{
	size_t len = strlen(word);

	for (const char *p = allowed; *p; ) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == len && strncasecmp(p, word, n) == 0)
			return 1;
		p += n + (bar != NULL);
	}
	return 0;
}
