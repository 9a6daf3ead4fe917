/* UTF-8 checking and escaping of names. */
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static size_t seq_len(const unsigned char *s)
{
	unsigned lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		lo = s[0] == 0xe0 ? 0xa0 : 0x80;     /* no overlong forms */
		hi = s[0] == 0xed ? 0x9f : 0xbf;     /* no surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		lo = s[0] == 0xf0 ? 0x90 : 0x80;
		hi = s[0] == 0xf4 ? 0x8f : 0xbf;     /* up to U+10FFFF */
	} else
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

int utf8_valid(const char *s)
{
	for (size_t n; *s; s += n)
		if (!(n = seq_len((const unsigned char *)s)))
			return 0;
	return 1;
}

size_t utf8_decode(const char *s, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = seq_len(u);

	if (n == 0) {
		*cp = 0xfffd;
		return 1;
	}
	*cp = n == 1 ? u[0] : u[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++)
		*cp = *cp << 6 | (u[i] & 0x3f);
	return n;
}

char *utf8_escape(const char *s)
{
	char *out = malloc(4 * strlen(s) + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t n; *s; s += n) {
		unsigned char ch = (unsigned char)*s;
		if ((n = seq_len((const unsigned char *)s)) && ch >= 0x20 && ch != 0x7f &&
		    ch != '\\') {
			memcpy(o, s, n);
			o += n;
		} else {
			o += sprintf(o, "\\x%02x", ch);
			n = 1;
		}
	}
	*o = '\0';
	return out;
}

json_t *json_text(const char *s)
{
	char *text;
	json_t *j;

	if (utf8_valid(s))
		return json_string(s);
	text = utf8_escape(s);
	j = text ? json_string(text) : NULL;
	free(text);
	return j;
}
