/* Configuration: a declared schema (section, key, type, default, range,
 * help) is the single source for parsing ini files (libinih), validating,
 * --set overrides, canonical effective values and the documentation. */
#ifndef PL_CFG_H
#define PL_CFG_H

#include <stddef.h>

#include "err.h"

typedef enum cfg_type { CFG_STR, CFG_INT, CFG_FLOAT, CFG_BOOL, CFG_ENUM } cfg_type;

enum { CFG_RUNTIME = 1 };  /* flag: does not change results, not fingerprinted */

typedef struct cfg_key {
	const char *section;
	const char *key;
	cfg_type type;
	const char *def;       /* default value as text */
	double min, max;       /* range for CFG_INT and CFG_FLOAT */
	const char *allowed;   /* CFG_ENUM: "sgd|adam|adamw" */
	const char *help;      /* one line */
	int flags;             /* CFG_RUNTIME ... */
} cfg_key;

typedef struct cfg cfg;

/* A configuration holding the defaults of schema (n keys; the table must
 * outlive the cfg). Caller frees with cfg_free. NULL on out of memory. */
cfg *cfg_new(const cfg_key *schema, size_t n);
void cfg_free(cfg *c);

/* Reads an ini file over the current values. Unknown sections and keys,
 * duplicates, bad types and out-of-range values are PL_EUSAGE errors naming
 * file, line and key, with a "did you mean" for near misses. */
int cfg_load_file(cfg *c, const char *path, pl_err *err);

/* Applies "section.key=value" (origin names where it came from in messages,
 * e.g. "--set" or "PIPELINE_SET"). */
int cfg_set(cfg *c, const char *assignment, const char *origin, pl_err *err);

/* Typed getters; the key must exist in the schema (a programmer error
 * otherwise). */
const char *cfg_str(const cfg *c, const char *section, const char *key);
long cfg_int(const cfg *c, const char *section, const char *key);
double cfg_float(const cfg *c, const char *section, const char *key);
int cfg_bool(const cfg *c, const char *section, const char *key);

/* Where the value came from: "default", "pipeline.ini:12", "--set". */
const char *cfg_origin(const cfg *c, const char *section, const char *key);

/* Calls fn for each key of section in schema order with its current value. */
typedef void (*cfg_visit_fn)(void *ctx, const cfg_key *key, const char *value);
void cfg_visit(const cfg *c, const char *section, cfg_visit_fn fn, void *ctx);

/* The schema table, for documentation. */
const cfg_key *cfg_schema(const cfg *c, size_t *n);

/* Parses "a|b|c"-style and list values: returns 1 when word is in the
 * '|'-separated list allowed. */
int cfg_word_in(const char *word, const char *allowed);

#endif
