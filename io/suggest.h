/* "Did you mean": the name nearest to a word typed wrong (a config key, a
 * command, an option), by edit distance. */
#ifndef PL_SUGGEST_H
#define PL_SUGGEST_H

#include <stddef.h>

/* A running search for the name nearest to word. */
typedef struct suggestion {
	const char *word;    /* what was typed; not owned */
	const char *best;    /* the nearest name so far, or NULL; not owned */
	size_t best_d;       /* its distance to word */
} suggestion;

/* Starts a search for the name nearest to word (which must outlive s). */
void suggest_init(suggestion *s, const char *word);

/* Offers one candidate name (which must outlive s). */
void suggest_add(suggestion *s, const char *name);

/* The nearest name offered when it is close enough to suggest: a small
 * edit distance (case-insensitive, a swap of two neighbours counting as
 * one edit), or one name starting with the other. NULL otherwise. */
const char *suggest_best(const suggestion *s);

#endif
