/* Unit tests for result.h: counts, report lines and the JSON summary. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

/*
 * A small strict JSON checker (RFC 8259 syntax) that also collects every
 * decoded string, so a test can look for a value whatever escapes the
 * printer chose.
 */
struct json {
	const char *p;
	char *strings[512];
	size_t nstrings;
};

static int json_value(struct json *j);

static void
json_ws(struct json *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
json_string(struct json *j)
{
	char *out = malloc(strlen(j->p) * 4 + 1);
	size_t n = 0;

	ck_assert_ptr_nonnull(out);
	if (*j->p++ != '"')
		goto bad;
	for (;;) {
		unsigned char c = (unsigned char)*j->p++;

		if (c == '"')
			break;
		if (c < 0x20)		/* includes the final NUL */
			goto bad;
		if (c != '\\') {
			out[n++] = (char)c;
			continue;
		}
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"': case '\\': case '/': out[n++] = (char)c; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u': {
			unsigned v = 0;

			for (int i = 0; i < 4; i++) {
				int h = hexval(*j->p++);

				if (h < 0)
					goto bad;
				v = v << 4 | (unsigned)h;
			}
			if (v < 0x80) {
				out[n++] = (char)v;
			} else if (v < 0x800) {
				out[n++] = (char)(0xc0 | v >> 6);
				out[n++] = (char)(0x80 | (v & 0x3f));
			} else {
				out[n++] = (char)(0xe0 | v >> 12);
				out[n++] = (char)(0x80 | (v >> 6 & 0x3f));
				out[n++] = (char)(0x80 | (v & 0x3f));
			}
			break;
		}
		default:
			goto bad;
		}
	}
	out[n] = '\0';
	if (j->nstrings < sizeof(j->strings) / sizeof(j->strings[0]))
		j->strings[j->nstrings++] = out;
	else
		free(out);
	return 0;
bad:
	free(out);
	return -1;
}

static int
json_number(struct json *j)
{
	const char *start = j->p;

	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (*j->p >= '1' && *j->p <= '9')
		while (*j->p >= '0' && *j->p <= '9')
			j->p++;
	else
		return -1;
	if (*j->p == '.') {
		j->p++;
		if (!(*j->p >= '0' && *j->p <= '9'))
			return -1;
		while (*j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!(*j->p >= '0' && *j->p <= '9'))
			return -1;
		while (*j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	return j->p > start ? 0 : -1;
}

static int
json_value(struct json *j)
{
	json_ws(j);
	switch (*j->p) {
	case '{':
		j->p++;
		json_ws(j);
		if (*j->p == '}') {
			j->p++;
			return 0;
		}
		for (;;) {
			json_ws(j);
			if (*j->p != '"' || json_string(j) == -1)
				return -1;
			json_ws(j);
			if (*j->p++ != ':' || json_value(j) == -1)
				return -1;
			json_ws(j);
			if (*j->p == '}') {
				j->p++;
				return 0;
			}
			if (*j->p++ != ',')
				return -1;
		}
	case '[':
		j->p++;
		json_ws(j);
		if (*j->p == ']') {
			j->p++;
			return 0;
		}
		for (;;) {
			if (json_value(j) == -1)
				return -1;
			json_ws(j);
			if (*j->p == ']') {
				j->p++;
				return 0;
			}
			if (*j->p++ != ',')
				return -1;
		}
	case '"':
		return json_string(j);
	case 't':
		if (strncmp(j->p, "true", 4) != 0)
			return -1;
		j->p += 4;
		return 0;
	case 'f':
		if (strncmp(j->p, "false", 5) != 0)
			return -1;
		j->p += 5;
		return 0;
	case 'n':
		if (strncmp(j->p, "null", 4) != 0)
			return -1;
		j->p += 4;
		return 0;
	default:
		return json_number(j);
	}
}

/* Parses s as one JSON document; 0 when valid. */
static int
json_parse(struct json *j, const char *s)
{
	memset(j, 0, sizeof(*j));
	j->p = s;
	if (json_value(j) == -1)
		return -1;
	json_ws(j);
	return *j->p == '\0' ? 0 : -1;
}

static int
json_has_string(const struct json *j, const char *s)
{
	for (size_t i = 0; i < j->nstrings; i++)
		if (strcmp(j->strings[i], s) == 0)
			return 1;
	return 0;
}

static void
json_free(struct json *j)
{
	for (size_t i = 0; i < j->nstrings; i++)
		free(j->strings[i]);
	j->nstrings = 0;
}

/* True when s is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates). */
static int
valid_utf8(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s, n, v, min;

		if (c < 0x80) {
			s++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1; v = c & 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; v = c & 0x0f; min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3; v = c & 0x07; min = 0x10000;
		} else {
			return 0;
		}
		for (unsigned i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			v = v << 6 | (s[i] & 0x3f);
		}
		if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

/* Output of result_print(r, all) as a new string. */
static char *
print_to_string(const struct result *r, int all)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	result_print(r, f, all);
	ck_assert_int_eq(fclose(f), 0);
	return out;
}

/* result_json(r, dest, end, error, all) and a newline, as a new string. */
static char *
json_of(const struct result *r, const char *dest, enum result_end end,
    const char *error, int all)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	result_json(r, f, dest, end, error, all);
	fputc('\n', f);
	ck_assert_int_eq(fclose(f), 0);
	return out;
}

static char *
json_to_string(const struct result *r)
{
	return json_of(r, NULL, RESULT_DONE, NULL, 0);
}

static size_t
count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

START_TEST(test_counts_per_action)
{
	struct result r;

	result_init(&r);
	ck_assert_int_eq(result_add(&r, ITEM_CREATE, "c1", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_CREATE, "c2", 1, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_REPLACE, "r", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_PURGE, "p1", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_PURGE, "p2", 1, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_PURGE, "p3", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_SKIP, "s", 0, "why"), 0);
	ck_assert_int_eq(result_add(&r, ITEM_FAIL, "f1", 0, "e"), 0);
	ck_assert_int_eq(result_add(&r, ITEM_FAIL, "f2", 0, "e"), 0);
	ck_assert_int_eq(result_add(&r, ITEM_VANISHED, "v", 0, "gone"), 0);
	ck_assert_uint_eq(r.created, 2);
	ck_assert_uint_eq(r.replaced, 1);
	ck_assert_uint_eq(r.purged, 3);
	ck_assert_uint_eq(r.skipped, 1);
	ck_assert_uint_eq(r.failed, 2);
	ck_assert_uint_eq(r.vanished, 1);
	ck_assert_uint_eq(r.unchanged, 0);
	ck_assert_uint_eq(r.nitems, 10);
	ck_assert_str_eq(r.items[0].path, "c1");
	ck_assert_ptr_null(r.items[0].reason);
	ck_assert_int_eq(r.items[1].is_dir, 1);
	ck_assert_str_eq(r.items[6].reason, "why");
	ck_assert_int_eq(r.items[9].action, ITEM_VANISHED);
	ck_assert_int_eq(result_exit_status(&r), 1);
	result_release(&r);
	ck_assert_uint_eq(r.nitems, 0);
	ck_assert_uint_eq(r.created, 0);
}
END_TEST

START_TEST(test_many_items)
{
	struct result r;
	char path[32];

	result_init(&r);
	/* Enough lines to cross several doublings of the array. */
	for (int i = 0; i < 1000; i++) {
		snprintf(path, sizeof(path), "f%d", i);
		ck_assert_int_eq(result_add(&r, i % 10 == 3 ? ITEM_SKIP :
		    ITEM_CREATE, path, 0, i % 10 == 3 ? "held back: open" :
		    NULL), 0);
	}
	ck_assert_uint_eq(r.nitems, 1000);
	ck_assert_uint_eq(r.created, 900);
	ck_assert_uint_eq(r.skipped, 100);
	for (int i = 0; i < 1000; i++) {
		snprintf(path, sizeof(path), "f%d", i);
		ck_assert_str_eq(r.items[i].path, path);
	}
	ck_assert_str_eq(r.items[3].reason, "held back: open");
	ck_assert_ptr_null(r.items[4].reason);
	result_release(&r);
}
END_TEST

START_TEST(test_strings_copied)
{
	struct result r;
	char path[] = "a/b", reason[] = "because";

	result_init(&r);
	ck_assert_int_eq(result_add(&r, ITEM_SKIP, path, 0, reason), 0);
	strcpy(path, "zzz");
	strcpy(reason, "nothing");
	ck_assert_str_eq(r.items[0].path, "a/b");
	ck_assert_str_eq(r.items[0].reason, "because");
	result_release(&r);
}
END_TEST

START_TEST(test_addf_and_append)
{
	struct result r;
	struct item it = { 0 };

	result_init(&r);
	ck_assert_int_eq(result_addf(&r, ITEM_FAIL, "x", 0, "code %d: %s", 5,
	    "bad"), 0);
	ck_assert_str_eq(r.items[0].reason, "code 5: bad");
	ck_assert_uint_eq(r.failed, 1);

	/* Appending takes ownership and does not count. */
	it.action = ITEM_SKIP;
	it.is_dir = 1;
	it.path = strdup("appended");
	it.reason = strdup("r");
	ck_assert_int_eq(result_append(&r, &it), 0);
	ck_assert_uint_eq(r.nitems, 2);
	ck_assert_uint_eq(r.skipped, 0);
	ck_assert_str_eq(r.items[1].path, "appended");
	result_release(&r);
}
END_TEST

/* One item's rsync -i string. */
static const char *
itemize_of(int action, char kind, uint16_t changes)
{
	static char s[RESULT_ITEMIZE_LEN];
	struct item it = { .action = action, .path = "p", .kind = kind,
	    .changes = changes };

	result_itemize(&it, s);
	return s;
}

START_TEST(test_itemize_strings)
{
	/* What rsync -ai writes for the same changes. */
	ck_assert_str_eq(itemize_of(ITEM_CREATE, 'f', ITEM_CH_NEW |
	    ITEM_CH_DATA), ">f+++++++++");
	ck_assert_str_eq(itemize_of(ITEM_CREATE, 'd', ITEM_CH_NEW),
	    "cd+++++++++");
	ck_assert_str_eq(itemize_of(ITEM_CREATE, 'L', ITEM_CH_NEW),
	    "cL+++++++++");
	ck_assert_str_eq(itemize_of(ITEM_CREATE, 'S', ITEM_CH_NEW),
	    "cS+++++++++");
	ck_assert_str_eq(itemize_of(ITEM_CREATE, 'f', ITEM_CH_NEW |
	    ITEM_CH_HLINK), "hf+++++++++");
	ck_assert_str_eq(itemize_of(ITEM_REPLACE, 'f', ITEM_CH_DATA |
	    ITEM_CH_SIZE | ITEM_CH_TIME), ">f.st......");
	ck_assert_str_eq(itemize_of(ITEM_REPLACE, 'f', ITEM_CH_DATA |
	    ITEM_CH_TIME | ITEM_CH_PERMS), ">f..tp.....");
	ck_assert_str_eq(itemize_of(ITEM_REPLACE, 'f', ITEM_CH_DATA |
	    ITEM_CH_SUM), ">fc........");
	ck_assert_str_eq(itemize_of(ITEM_REPLACE, 'f', ITEM_CH_PERMS),
	    ".f...p.....");
	ck_assert_str_eq(itemize_of(ITEM_REPLACE, 'D', ITEM_CH_OWNER |
	    ITEM_CH_GROUP), ".D....og...");
	ck_assert_str_eq(itemize_of(ITEM_REPLACE, 'L', ITEM_CH_REMADE |
	    ITEM_CH_SUM | ITEM_CH_TIME), "cLc.t......");
	ck_assert_str_eq(itemize_of(ITEM_REPLACE, 'f', ITEM_CH_XATTR),
	    ".f........x");
	ck_assert_str_eq(itemize_of(ITEM_TOUCH, 'd', ITEM_CH_TIME),
	    ".d..t......");
	/* A purge is rsync's message, padded to the field's 11 characters. */
	ck_assert_str_eq(itemize_of(ITEM_PURGE, 0, 0), "*deleting  ");
	ck_assert_uint_eq(strlen(itemize_of(ITEM_PURGE, 0, 0)), 11);
}
END_TEST

START_TEST(test_print_itemized)
{
	struct result r;
	struct item top = { .action = ITEM_TOUCH, .is_dir = 1, .path = ".",
	    .kind = 'd', .changes = ITEM_CH_TIME };
	struct item link = { .action = ITEM_CREATE, .path = "cur",
	    .target = "rel/7", .kind = 'L', .changes = ITEM_CH_NEW };
	struct item hard = { .action = ITEM_CREATE, .path = "b", .target = "a",
	    .kind = 'f', .changes = ITEM_CH_NEW | ITEM_CH_HLINK };
	struct item dir = { .action = ITEM_CREATE, .is_dir = 1, .path = "d",
	    .kind = 'd', .changes = ITEM_CH_NEW };
	char *s = NULL;
	size_t len;
	FILE *f;

	result_init(&r);
	ck_assert_int_eq(result_add_item(&r, &top), 0);
	ck_assert_int_eq(result_add_item(&r, &link), 0);
	ck_assert_int_eq(result_add_item(&r, &hard), 0);
	ck_assert_int_eq(result_add_item(&r, &dir), 0);
	ck_assert_int_eq(result_add(&r, ITEM_PURGE, "old", 1, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_SKIP, "x", 0, "why"), 0);
	/* The top's touch is not a change: counted nowhere. */
	ck_assert_uint_eq(r.created, 3);
	ck_assert_uint_eq(r.purged, 1);
	f = open_memstream(&s, &len);
	ck_assert_ptr_nonnull(f);
	result_print_itemized(&r, f);
	fclose(f);
	ck_assert_str_eq(s,
	    ".d..t...... ./\n"
	    "cL+++++++++ cur -> rel/7\n"
	    "hf+++++++++ b => a\n"
	    "cd+++++++++ d/\n"
	    "*deleting   old/\n"
	    "skip    x: why\n");
	free(s);
	/* Without -i a touch is never a line, even with all. */
	f = open_memstream(&s, &len);
	result_print(&r, f, 1);
	fclose(f);
	ck_assert_ptr_null(strstr(s, "touch"));
	free(s);
	result_release(&r);
}
END_TEST

START_TEST(test_merge_counts)
{
	struct result a, b;

	result_init(&a);
	result_init(&b);
	a.created = 1;
	a.unchanged = 10;
	b.created = 2;
	b.replaced = 3;
	b.purged = 4;
	b.unchanged = 5;
	b.skipped = 6;
	b.failed = 7;
	b.vanished = 8;
	b.report = 1;
	ck_assert_int_eq(result_add(&b, ITEM_CREATE, "item", 0, NULL), 0);
	result_merge_counts(&a, &b);
	ck_assert_uint_eq(a.created, 1 + 3);	/* b counted its item too */
	ck_assert_uint_eq(a.replaced, 3);
	ck_assert_uint_eq(a.purged, 4);
	ck_assert_uint_eq(a.unchanged, 15);
	ck_assert_uint_eq(a.skipped, 6);
	ck_assert_uint_eq(a.failed, 7);
	ck_assert_uint_eq(a.vanished, 8);
	ck_assert_int_eq(a.report, 1);
	ck_assert_uint_eq(a.nitems, 0);		/* not its items */
	result_release(&a);
	result_release(&b);
}
END_TEST

START_TEST(test_verbs_and_exit_status)
{
	struct result r;

	ck_assert_str_eq(result_verb(ITEM_CREATE), "create");
	ck_assert_str_eq(result_verb(ITEM_REPLACE), "replace");
	ck_assert_str_eq(result_verb(ITEM_PURGE), "purge");
	ck_assert_str_eq(result_verb(ITEM_SKIP), "skip");
	ck_assert_str_eq(result_verb(ITEM_FAIL), "fail");
	ck_assert_str_eq(result_verb(ITEM_VANISHED), "vanished");
	ck_assert_ptr_nonnull(result_verb(0));
	ck_assert_ptr_nonnull(result_verb(99));

	result_init(&r);
	ck_assert_int_eq(result_exit_status(&r), 0);
	ck_assert_int_eq(result_add(&r, ITEM_CREATE, "a", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_PURGE, "b", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_VANISHED, "c", 0, "gone"), 0);
	ck_assert_int_eq(result_exit_status(&r), 0);
	ck_assert_int_eq(result_add(&r, ITEM_SKIP, "d", 0, "x"), 0);
	ck_assert_int_eq(result_exit_status(&r), 1);
	result_release(&r);
	ck_assert_int_eq(result_add(&r, ITEM_FAIL, "d", 0, "x"), 0);
	ck_assert_int_eq(result_exit_status(&r), 1);
	result_release(&r);
}
END_TEST

START_TEST(test_print_format)
{
	struct result r;
	char *s;

	result_init(&r);
	ck_assert_int_eq(result_add(&r, ITEM_CREATE, "new/file", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_REPLACE, "changed", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_PURGE, "old", 1, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_SKIP, "dev/null", 0,
	    "special file"), 0);
	ck_assert_int_eq(result_add(&r, ITEM_FAIL, "dir", 1,
	    "Permission denied"), 0);
	ck_assert_int_eq(result_add(&r, ITEM_VANISHED, "tmp/x", 0, NULL), 0);

	s = print_to_string(&r, 1);
	ck_assert_str_eq(s,
	    "create  new/file\n"
	    "replace changed\n"
	    "purge   old/\n"
	    "skip    dev/null: special file\n"
	    "fail    dir/: Permission denied\n"
	    "vanished tmp/x\n");
	free(s);

	/* Without all: only skip, fail and vanished. */
	s = print_to_string(&r, 0);
	ck_assert_str_eq(s,
	    "skip    dev/null: special file\n"
	    "fail    dir/: Permission denied\n"
	    "vanished tmp/x\n");
	free(s);
	result_release(&r);

	s = print_to_string(&r, 1);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_print_escapes_path)
{
	struct result r;
	char *s;

	result_init(&r);
	ck_assert_int_eq(result_add(&r, ITEM_SKIP, "evil\nfail    fake", 0,
	    "x"), 0);
	ck_assert_int_eq(result_add(&r, ITEM_FAIL, "back\\slash", 1, "y"), 0);
	s = print_to_string(&r, 0);
	ck_assert_str_eq(s,
	    "skip    evil\\012fail    fake: x\n"
	    "fail    back\\134slash/: y\n");
	free(s);
	result_release(&r);
}
END_TEST

START_TEST(test_print_reason_one_line)
{
	struct result r;
	char *s;

	/*
	 * Regression test (was a bug, fixed): result_print() writes the reason with fprintf("%s") unescaped.
	 * Reasons can hold peer-supplied text (ITEM frames, hardlink targets
	 * in "link to %s" reasons), so a newline forges report lines and an
	 * ESC byte reaches the terminal. Expected: one line per item, no raw
	 * control bytes (escaped like the path).
	 */
	result_init(&r);
	ck_assert_int_eq(result_add(&r, ITEM_FAIL, "a", 0,
	    "link to x\ncreate  forged: \033[2Jcleared"), 0);
	s = print_to_string(&r, 1);
	ck_assert_msg(count_char(s, '\n') == 1, "one item printed as %zu "
	    "lines", count_char(s, '\n'));
	ck_assert_ptr_null(strchr(s, '\033'));
	ck_assert_int_eq(strncmp(s, "fail    a: link to x", 20), 0);
	free(s);
	result_release(&r);
}
END_TEST

/* What fn prints of r, as a new string. */
static char *
printed(void (*fn)(const struct result *, FILE *), const struct result *r)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	fn(r, f);
	ck_assert_int_eq(fclose(f), 0);
	return out;
}

START_TEST(test_print_summary)
{
	struct result r;
	char *out;

	result_init(&r);
	r.created = 1;
	r.replaced = 2;
	r.purged = 3;
	r.unchanged = 4;
	r.skipped = 5;
	r.failed = 6;
	r.bytes_sent = 3 << 20;
	r.stats.elapsed = 2;
	out = printed(result_print_summary, &r);
	ck_assert_str_eq(out,
	    "created 1, replaced 2, purged 3, unchanged 4, skipped 5, "
	    "failed 6, bytes sent 3145728 in 2.00 s (1.5MiB/s)\n");
	free(out);
	r.report = 1;
	r.bytes_sent = 7;
	r.stats.elapsed = 0;
	out = printed(result_print_summary, &r);
	ck_assert_str_eq(out, "report: created 1, replaced 2, purged 3, "
	    "unchanged 4, skipped 5, failed 6, bytes sent 7 in 0.00 s (0B/s)\n");
	free(out);
}
END_TEST

START_TEST(test_print_stats)
{
	static const char devs[] = "Number of files: 4 (reg: 0, dir: 0, "
	    "link: 0, dev: 3, special: 1)\n";
	struct result r;
	char *out;

	result_init(&r);
	r.created = 2;
	r.replaced = 1;
	r.purged = 3;
	r.bytes_sent = 1234567;
	r.stats = (struct result_stats){ .files = 1200, .regular = 1000,
	    .dirs = 150, .symlinks = 50, .total_size = 98800000000ull,
	    .sent_files = 3, .sent_size = 2345678, .bytes_received = 433,
	    .elapsed = 2.5 };
	out = printed(result_print_stats, &r);
	ck_assert_str_eq(out,
	    "Number of files: 1,200 (reg: 1,000, dir: 150, link: 50)\n"
	    "Number of created files: 2\n"
	    "Number of replaced files: 1\n"
	    "Number of deleted files: 3\n"
	    "Number of regular files transferred: 3\n"
	    "Total file size: 98,800,000,000 bytes\n"
	    "Total transferred file size: 2,345,678 bytes\n"
	    "Total bytes sent: 1,234,567\n"
	    "Total bytes received: 433\n"
	    "Elapsed time: 2.500 seconds\n"
	    "\n"
	    "sent 1,234,567 bytes  received 433 bytes  494000.00 bytes/sec\n"
	    "total size is 98,800,000,000  speedup is 80000.00\n");
	free(out);
	/* devices and special files, as rsync counts them, when there are */
	r.stats.files = 4;
	r.stats.regular = r.stats.dirs = r.stats.symlinks = 0;
	r.stats.devices = 3;
	r.stats.specials = 1;
	out = printed(result_print_stats, &r);
	ck_assert_msg(strncmp(out, devs, strlen(devs)) == 0, "'%s'", out);
	free(out);
}
END_TEST

START_TEST(test_json_fields)
{
	struct result r;
	struct json j;
	char *s;

	result_init(&r);
	r.unchanged = 42;
	r.bytes_sent = 123456789012ull;
	ck_assert_int_eq(result_add(&r, ITEM_CREATE, "c", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_REPLACE, "r", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_PURGE, "p", 0, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_SKIP, "skipped/one", 0,
	    "special file"), 0);
	ck_assert_int_eq(result_add(&r, ITEM_FAIL, "failed/one", 0,
	    "Permission denied"), 0);
	ck_assert_int_eq(result_add(&r, ITEM_FAIL, "failed/two", 1, NULL), 0);
	ck_assert_int_eq(result_add(&r, ITEM_VANISHED, "v", 0, NULL), 0);
	s = json_to_string(&r);

	ck_assert_msg(json_parse(&j, s) == 0, "invalid JSON: %s", s);
	ck_assert_uint_eq(count_char(s, '\n'), 1);	/* one line */
	ck_assert_int_eq(s[strlen(s) - 1], '\n');
	ck_assert_ptr_nonnull(strstr(s, "\"created\":1"));
	ck_assert_ptr_nonnull(strstr(s, "\"replaced\":1"));
	ck_assert_ptr_nonnull(strstr(s, "\"purged\":1"));
	ck_assert_ptr_nonnull(strstr(s, "\"unchanged\":42"));
	ck_assert_ptr_nonnull(strstr(s, "\"skipped\":1"));
	ck_assert_ptr_nonnull(strstr(s, "\"failed\":2"));
	ck_assert_ptr_nonnull(strstr(s, "\"vanished\":1"));
	ck_assert_ptr_nonnull(strstr(s, "\"bytes_sent\":123456789012"));
	ck_assert_ptr_nonnull(strstr(s, "\"report\":false"));
	ck_assert_ptr_nonnull(strstr(s, "\"status\":\"partial\",\"error\":null"));
	ck_assert_ptr_null(strstr(s, "\"destination\""));
	ck_assert_ptr_nonnull(strstr(s, "\"entries\":[{\"action\":\"skip\","
	    "\"path\":\"skipped/one\",\"dir\":false,\"reason\":"
	    "\"special file\"},{\"action\":\"fail\",\"path\":\"failed/one\","
	    "\"dir\":false,\"reason\":\"Permission denied\"},{\"action\":"
	    "\"fail\",\"path\":\"failed/two\",\"dir\":true,\"reason\":null},"
	    "{\"action\":\"vanished\",\"path\":\"v\""));
	/* Without all, created, replaced and purged entries are counted only. */
	ck_assert_int_eq(json_has_string(&j, "c"), 0);
	ck_assert_int_eq(json_has_string(&j, "p"), 0);
	json_free(&j);
	free(s);

	/* With all (-v, -n), every entry, in order. */
	s = json_of(&r, "mirror://h/app", RESULT_DONE, NULL, 1);
	ck_assert_msg(json_parse(&j, s) == 0, "invalid JSON: %s", s);
	ck_assert_ptr_nonnull(strstr(s, "{\"destination\":\"mirror://h/app\","
	    "\"status\":\"partial\""));
	ck_assert_ptr_nonnull(strstr(s, "\"entries\":[{\"action\":\"create\","
	    "\"path\":\"c\",\"dir\":false,\"reason\":null},{\"action\":"
	    "\"replace\",\"path\":\"r\""));
	ck_assert_ptr_nonnull(strstr(s, "{\"action\":\"purge\",\"path\":\"p\""));
	json_free(&j);
	free(s);

	/* A failed destination: its status and its error. */
	s = json_of(&r, "d", RESULT_FAILED, "peer: connection reset", 0);
	ck_assert_msg(json_parse(&j, s) == 0, "invalid JSON: %s", s);
	ck_assert_ptr_nonnull(strstr(s, "\"status\":\"failed\",\"error\":"
	    "\"peer: connection reset\""));
	json_free(&j);
	free(s);
	/* One whose link died once the commit began: old or new, unknown. */
	s = json_of(&r, "d", RESULT_UNKNOWN, "peer: connection reset", 0);
	ck_assert_msg(json_parse(&j, s) == 0, "invalid JSON: %s", s);
	ck_assert_ptr_nonnull(strstr(s, "\"status\":\"unknown\",\"error\":"
	    "\"peer: connection reset\""));
	json_free(&j);
	free(s);

	/* The statistics and times. */
	r.stats.files = 9;
	r.stats.elapsed = 1.25;
	r.stats.bytes_received = 77;
	s = json_to_string(&r);
	ck_assert_msg(json_parse(&j, s) == 0, "invalid JSON: %s", s);
	ck_assert_ptr_nonnull(strstr(s, "\"bytes_received\":77,\"elapsed\":1.250,"
	    "\"stats\":{\"files\":9,"));
	json_free(&j);
	free(s);

	r.report = 1;
	s = json_to_string(&r);
	ck_assert_int_eq(json_parse(&j, s), 0);
	ck_assert_ptr_nonnull(strstr(s, "\"report\":true"));
	json_free(&j);
	free(s);
	result_release(&r);

	/* An empty list, and a session in sync. */
	s = json_to_string(&r);
	ck_assert_msg(json_parse(&j, s) == 0, "invalid JSON: %s", s);
	ck_assert_ptr_nonnull(strstr(s, "\"entries\":[]"));
	ck_assert_ptr_nonnull(strstr(s, "\"status\":\"ok\""));
	json_free(&j);
	free(s);
}
END_TEST

START_TEST(test_json_escapes)
{
	static const char *paths[] = {
		"quote\"d",
		"back\\slash",
		"new\nline",
		"tab\tand\rcr",
		"bell\a\x01\x1f\x7f",
		"caf\xc3\xa9",
		"\"\\\"",
	};
	static const char *reason = "reason with \"quotes\" and \n newline";
	struct result r;
	struct json j;
	char *s;

	result_init(&r);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		ck_assert_int_eq(result_add(&r, i % 2 ? ITEM_SKIP : ITEM_FAIL,
		    paths[i], 0, reason), 0);
	s = json_to_string(&r);
	ck_assert_msg(json_parse(&j, s) == 0, "invalid JSON: %s", s);
	ck_assert_uint_eq(count_char(s, '\n'), 1);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		ck_assert_msg(json_has_string(&j, paths[i]),
		    "path %zu not found decoded in %s", i, s);
	ck_assert(json_has_string(&j, reason));
	ck_assert_ptr_nonnull(strstr(s, "quote\\\"d"));
	ck_assert_ptr_nonnull(strstr(s, "back\\\\slash"));
	ck_assert(strstr(s, "new\\nline") || strstr(s, "new\\u000aline") ||
	    strstr(s, "new\\u000Aline"));
	json_free(&j);
	free(s);
	result_release(&r);
}
END_TEST

START_TEST(test_json_checker_self_test)
{
	struct json j;

	/* The checker itself refuses what a careless printer might emit. */
	ck_assert_int_eq(json_parse(&j, "{\"a\":\"x\ny\"}"), -1);
	json_free(&j);
	ck_assert_int_eq(json_parse(&j, "{\"a\":\"x\"y\"}"), -1);
	json_free(&j);
	ck_assert_int_eq(json_parse(&j, "{\"a\":1,}"), -1);
	json_free(&j);
	ck_assert_int_eq(json_parse(&j, "{\"a\":\"\\q\"}"), -1);
	json_free(&j);
	ck_assert_int_eq(json_parse(&j, "{\"a\":[1,2,{\"b\":true}],"
	    "\"c\":\"\\u0041\\n\"}\n"), 0);
	ck_assert(json_has_string(&j, "A\n"));
	json_free(&j);
	ck_assert_int_eq(valid_utf8((const unsigned char *)
	    "caf\xc3\xa9 \xf0\x9f\x98\x80"), 1);
	ck_assert_int_eq(valid_utf8((const unsigned char *)"caf\xe9"), 0);
	ck_assert_int_eq(valid_utf8((const unsigned char *)"\xc0\xaf"), 0);
	ck_assert_int_eq(valid_utf8((const unsigned char *)"\xed\xa0\x80"), 0);
}
END_TEST

START_TEST(test_json_non_utf8_path)
{
	struct result r;
	struct json j;
	char *s;

	/*
	 * Regression test (was a bug, fixed): result_json() (json_string in result.c) copies bytes
	 * >= 0x80 through unchanged, so a file name that is not UTF-8 (legal
	 * on Linux, and mirrored) makes the output invalid JSON: RFC 8259
	 * requires UTF-8, and parsers such as Python's json or jq refuse it.
	 * Expected: valid UTF-8 output (invalid bytes escaped or replaced).
	 */
	result_init(&r);
	ck_assert_int_eq(result_add(&r, ITEM_SKIP, "caf\xc3\xa9/ok", 0,
	    "special file"), 0);
	ck_assert_int_eq(result_add(&r, ITEM_FAIL, "latin1-caf\xe9", 0,
	    "bad \xff\xfe bytes"), 0);
	s = json_to_string(&r);
	ck_assert_msg(json_parse(&j, s) == 0, "invalid JSON syntax: %s", s);
	json_free(&j);
	ck_assert_msg(valid_utf8((const unsigned char *)s),
	    "JSON output is not valid UTF-8");
	free(s);
	result_release(&r);
}
END_TEST

static Suite *
result_suite(void)
{
	Suite *s = suite_create("result");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_counts_per_action);
	tcase_add_test(tc, test_strings_copied);
	tcase_add_test(tc, test_addf_and_append);
	tcase_add_test(tc, test_merge_counts);
	tcase_add_test(tc, test_itemize_strings);
	tcase_add_test(tc, test_print_itemized);
	tcase_add_test(tc, test_verbs_and_exit_status);
	tcase_add_test(tc, test_print_format);
	tcase_add_test(tc, test_print_stats);
	tcase_add_test(tc, test_print_escapes_path);
	tcase_add_test(tc, test_print_reason_one_line);
	tcase_add_test(tc, test_print_summary);
	tcase_add_test(tc, test_json_fields);
	tcase_add_test(tc, test_json_escapes);
	tcase_add_test(tc, test_json_non_utf8_path);
	tcase_add_test(tc, test_json_checker_self_test);
	tcase_add_test(tc, test_many_items);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(result_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
