/* "Did you mean": edit distance over a set of names. */
#include "suggest.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Edit distance, case-insensitive, where swapping two neighbours counts
 * as one edit (optimal string alignment). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[64][64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
			size_t best = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

void suggest_init(suggestion *s, const char *word)
{
	s->word = word;
	s->best = NULL;
	s->best_d = 99;
}

void suggest_add(suggestion *s, const char *name)
{
	size_t d = edit_distance(s->word, name), ln = strlen(name), lw = strlen(s->word);

	if (d > 2 && d * 3 > lw && ln >= 2 && lw >= 2 &&
	    (!strncasecmp(s->word, name, ln) || !strncasecmp(s->word, name, lw)))
		d = 2;
	if (d < s->best_d) {
		s->best_d = d;
		s->best = name;
	}
}

const char *suggest_best(const suggestion *s)
{
	return s->best && (s->best_d <= 2 || s->best_d * 3 <= strlen(s->word)) ? s->best : NULL;
}
