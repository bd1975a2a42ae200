/* words: a command line split into words without a shell, and a word quoted for a remote shell. */
#include "words.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n';
}

/* Copies the word at *sp into out (as long as s, at least); advances *sp. */
static int
one_word(const char **sp, char *out, char *err, size_t errlen)
{
	const char *s = *sp;
	char quote = 0;

	for (; *s != '\0' && (quote || !blank(*s)); s++) {
		if (quote == '\'') {
			if (*s == '\'')
				quote = 0;
			else
				*out++ = *s;
		} else if (quote == '"') {
			if (*s == '"')
				quote = 0;
			else if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
				*out++ = *++s;
			else
				*out++ = *s;
		} else if (*s == '\'' || *s == '"') {
			quote = *s;
		} else if (*s == '\\' && s[1] != '\0') {
			*out++ = *++s;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
	*sp = s;
	if (quote) {
		snprintf(err, errlen, "unterminated %s quote",
		    quote == '\'' ? "single" : "double");
		return -1;
	}
	return 0;
}

char **
words_split(const char *s, char *err, size_t errlen)
{
	size_t n = 0, len = strlen(s);
	char **v = calloc(len / 2 + 2, sizeof(*v));

	if (v == NULL)
		goto nomem;
	for (;;) {
		while (blank(*s))
			s++;
		if (*s == '\0')
			break;
		v[n] = malloc(len + 1);
		if (v[n] == NULL)
			goto nomem;
		if (one_word(&s, v[n++], err, errlen) == -1) {
			words_free(v);
			return NULL;
		}
	}
	if (n == 0) {
		snprintf(err, errlen, "an empty command");
		words_free(v);
		return NULL;
	}
	return v;
nomem:
	snprintf(err, errlen, "%s", strerror(ENOMEM));
	words_free(v);
	return NULL;
}

void
words_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

char *
words_quote(const char *s)
{
	size_t n = 2;
	char *q, *o;

	for (const char *p = s; *p != '\0'; p++)
		n += *p == '\'' ? 4 : 1;
	q = malloc(n + 1);
	if (q == NULL)
		return NULL;
	o = q;
	*o++ = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = *s;
	}
	*o++ = '\'';
	*o = '\0';
	return q;
}
