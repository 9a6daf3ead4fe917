/* Names from file systems and tables as text: folder and file names need
 * not be UTF-8, but labels.txt, JSON, reports and the model's class list
 * must be. */
#ifndef PL_UTF8_H
#define PL_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Whether s is valid UTF-8 as JSON takes it: shortest forms only, no
 * surrogates, nothing past U+10FFFF. */
int utf8_valid(const char *s);

/* Decodes the character at s (not at its end) into *cp and returns the
 * bytes it takes; a byte that does not start valid UTF-8 gives U+FFFD and
 * takes 1, so a walk over any string ends. */
size_t utf8_decode(const char *s, uint32_t *cp);

/* A malloc'd copy of s in which every byte that is not part of valid
 * UTF-8, every control character (a line break would split a name in
 * labels.txt) and the backslash itself are written as the four characters
 * \xNN (so 'caf\xe9' in Latin-1 stays distinct from 'caf\xe8', and from a
 * name that holds the text 'caf\xe9', which becomes 'caf\x5cxe9'): two
 * different names never escape to the same text. NULL when out of memory. */
char *utf8_escape(const char *s);

/* A JSON string of s, escaped as utf8_escape does when it is not valid
 * UTF-8 (json_string refuses it; JSON itself escapes control characters);
 * NULL when out of memory. */
json_t *json_text(const char *s);

#endif
