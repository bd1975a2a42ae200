/* pattern: shell globs with rsync's '**', compiled once, matched without backtracking. */
#include "pattern.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum tok_type {
	T_CHAR,		/* the character c */
	T_ANY,		/* '?' */
	T_SET,		/* '[...]': a character of sets[set] */
	T_STAR,		/* '*': stays while the character is not '/' */
	T_DSTAR,	/* '**': stays on any character */
	T_DIRS,		/* '**' '/': nothing, or a run that ends in '/'... */
	T_DIRS_IN,	/* ...inside that run, which only a '/' may end */
	T_SUBTREE,	/* '/' '***' at the end: nothing, or '/' then T_DSTAR */
};

struct tok {
	uint8_t type;
	unsigned char c;
	uint32_t set;
};

/* A compiled pattern is at most this many states (tokens and the end). */
#define PATTERN_MAX_STATES (PATH_MAX + 3)
#define STATE_WORDS ((PATTERN_MAX_STATES + 63) / 64)

struct pattern {
	struct tok *t;
	size_t n;
	uint8_t (*sets)[32];	/* bitmaps of the characters of each '[...]' */
	size_t nsets;
};

static int
bit(const uint8_t *map, unsigned char c)
{
	return (map[c >> 3] >> (c & 7)) & 1;
}

/*
 * The index of the ']' closing the set that opens at text[i], or -1. As
 * fnmatch reads it: a ']' first (after '!' or '^') is a member, a '\'
 * quotes the next character, "[:class:]" (and "[.x.]", "[=x=]") are
 * read whole.
 */
static long
set_end(const char *text, size_t len, size_t i)
{
	size_t j = i + 1;

	if (j < len && (text[j] == '!' || text[j] == '^'))
		j++;
	if (j < len && text[j] == ']')
		j++;
	while (j < len && text[j] != ']') {
		if (text[j] == '[' && j + 1 < len && strchr(":.=", text[j + 1])) {
			const char *close = NULL;

			for (size_t k = j + 2; k + 1 < len && close == NULL; k++)
				if (text[k] == text[j + 1] && text[k + 1] == ']')
					close = text + k;
			if (close == NULL)
				return -1;
			j = (size_t)(close - text) + 2;
		} else if (text[j] == '\\' && j + 1 < len)
			j += 2;
		else
			j++;
	}
	return j < len ? (long)j : -1;
}

/* Fills map with the characters (never '/') the set text[i..end] holds. */
static void
set_fill(uint8_t *map, const char *text, size_t i, size_t end)
{
	char set[PATH_MAX + 1], one[2] = { 0, 0 };

	memcpy(set, text + i, end - i + 1);
	set[end - i + 1] = '\0';
	memset(map, 0, 32);
	for (int c = 1; c < 256; c++) {
		one[0] = (char)c;
		if (c != '/' && fnmatch(set, one, 0) == 0)
			map[c >> 3] |= (uint8_t)(1u << (c & 7));
	}
}

static void
push(struct pattern *p, int type, unsigned char c)
{
	p->t[p->n].type = (uint8_t)type;
	p->t[p->n].c = c;
	p->t[p->n].set = 0;
	p->n++;
}

/* Compiles the stars at text[*i]; *i moves past them (and a '/' they own). */
static void
stars(struct pattern *p, const char *text, size_t len, size_t *i)
{
	size_t j = *i;

	while (j < len && text[j] == '*')
		j++;
	if (j - *i == 1)
		push(p, T_STAR, 0);
	else if (j < len && text[j] == '/' && (*i == 0 || text[*i - 1] == '/')) {
		push(p, T_DIRS, 0);
		push(p, T_DIRS_IN, 0);
		j++;
	} else
		push(p, T_DSTAR, 0);
	*i = j;
}

struct pattern *
pattern_compile(const char *text, const char **why)
{
	struct pattern *p;
	size_t len = strlen(text), i = 0;
	int subtree = 0;
	long end;

	*why = NULL;
	if (len == 0)
		*why = "an empty pattern";
	else if (len > PATH_MAX - 1)
		*why = "a pattern longer than any path";
	if (*why != NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (len >= 4 && strcmp(text + len - 4, "/***") == 0) {
		subtree = 1;
		len -= 4;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->t = calloc(len + 2, sizeof(*p->t))) == NULL ||
	    (p->sets = calloc(len / 3 + 1, sizeof(*p->sets))) == NULL)
		goto fail;
	while (i < len) {
		switch (text[i]) {
		case '\\':
			if (i + 1 == len) {
				*why = "a '\\' at the end";
				goto bad;
			}
			push(p, T_CHAR, (unsigned char)text[i + 1]);
			i += 2;
			break;
		case '*':
			stars(p, text, len, &i);
			break;
		case '?':
			push(p, T_ANY, 0);
			i++;
			break;
		case '[':
			if ((end = set_end(text, len, i)) == -1) {
				*why = "an unclosed '['";
				goto bad;
			}
			push(p, T_SET, 0);
			p->t[p->n - 1].set = (uint32_t)p->nsets;
			set_fill(p->sets[p->nsets++], text, i, (size_t)end);
			i = (size_t)end + 1;
			break;
		default:
			push(p, T_CHAR, (unsigned char)text[i]);
			i++;
		}
	}
	if (subtree) {
		push(p, T_SUBTREE, 0);
		push(p, T_DSTAR, 0);
	}
	return p;
bad:
	errno = EINVAL;
fail:
	pattern_free(p);
	return NULL;
}

void
pattern_free(struct pattern *p)
{
	if (p == NULL)
		return;
	free(p->t);
	free(p->sets);
	free(p);
}

static void
state_add(uint64_t *s, size_t i)
{
	s[i / 64] |= UINT64_C(1) << (i % 64);
}

static int
state_has(const uint64_t *s, size_t i)
{
	return (int)((s[i / 64] >> (i % 64)) & 1);
}

/* Adds the states reached without reading a character (forward only). */
static void
closure(const struct pattern *p, uint64_t *s)
{
	for (size_t i = 0; i < p->n; i++) {
		if (!state_has(s, i))
			continue;
		switch (p->t[i].type) {
		case T_STAR:
		case T_DSTAR:
			state_add(s, i + 1);
			break;
		case T_DIRS:
		case T_SUBTREE:
			state_add(s, i + 2);
			break;
		}
	}
}

/* The states after reading c in the states cur; 0 when there are none. */
static int
step(const struct pattern *p, const uint64_t *cur, uint64_t *next,
    unsigned char c)
{
	size_t words = p->n / 64 + 1;
	int any = 0;

	memset(next, 0, words * sizeof(*next));
	for (size_t i = 0; i < p->n; i++) {
		const struct tok *t = &p->t[i];

		if (!state_has(cur, i))
			continue;
		switch (t->type) {
		case T_CHAR:
			if (c == t->c)
				state_add(next, i + 1);
			break;
		case T_ANY:
			if (c != '/')
				state_add(next, i + 1);
			break;
		case T_SET:
			if (bit(p->sets[t->set], c))
				state_add(next, i + 1);
			break;
		case T_STAR:
			if (c != '/')
				state_add(next, i);
			break;
		case T_DSTAR:
			state_add(next, i);
			break;
		case T_DIRS:
			state_add(next, i + 1);
			if (c == '/')
				state_add(next, i + 2);
			break;
		case T_DIRS_IN:
			state_add(next, i);
			if (c == '/')
				state_add(next, i + 1);
			break;
		case T_SUBTREE:
			if (c == '/')
				state_add(next, i + 1);
			break;
		}
	}
	closure(p, next);
	for (size_t w = 0; w < words; w++)
		any |= next[w] != 0;
	return any;
}

int
pattern_match(const struct pattern *p, const char *subject)
{
	uint64_t a[STATE_WORDS], b[STATE_WORDS], *cur = a, *next = b, *tmp;
	const unsigned char *s = (const unsigned char *)subject;

	memset(a, 0, (p->n / 64 + 1) * sizeof(*a));
	state_add(a, 0);
	closure(p, a);
	for (; *s != '\0'; s++) {
		if (!step(p, cur, next, *s))
			return 0;
		tmp = cur;
		cur = next;
		next = tmp;
	}
	return state_has(cur, p->n);
}
