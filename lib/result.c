/* result: a session's counts and its per-entry report lines. */
#include "result.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

void
result_init(struct result *r)
{
	memset(r, 0, sizeof(*r));
}

void
result_release(struct result *r)
{
	for (size_t i = 0; i < r->nitems; i++) {
		free(r->items[i].path);
		free(r->items[i].reason);
	}
	free(r->items);
	result_init(r);
}

static void
result_count(struct result *r, int action)
{
	switch (action) {
	case ITEM_CREATE: r->created++; break;
	case ITEM_REPLACE: r->replaced++; break;
	case ITEM_PURGE: r->purged++; break;
	case ITEM_SKIP:
	case ITEM_HELD: r->skipped++; break;
	case ITEM_FAIL: r->failed++; break;
	case ITEM_VANISHED: r->vanished++; break;
	}
}

int
result_add(struct result *r, int action, const char *path, int is_dir,
    const char *reason)
{
	struct item it;

	result_count(r, action);
	it.action = action;
	it.is_dir = is_dir;
	it.path = strdup(path);
	it.reason = reason ? strdup(reason) : NULL;
	if (it.path == NULL || (reason && it.reason == NULL)) {
		free(it.path);
		free(it.reason);
		return -1;
	}
	return result_append(r, &it);
}

int
result_append(struct result *r, struct item *it)
{
	struct item *items;
	size_t n = r->nitems;

	/* Room doubles at each power of two: a session may report millions. */
	if (n == 0 || (n & (n - 1)) == 0) {
		items = realloc(r->items, (n ? 2 * n : 1) * sizeof(*items));
		if (items == NULL) {
			free(it->path);
			free(it->reason);
			return -1;
		}
		r->items = items;
	}
	r->items[r->nitems++] = *it;
	return 0;
}

void
result_merge_counts(struct result *dst, const struct result *src)
{
	dst->created += src->created;
	dst->replaced += src->replaced;
	dst->purged += src->purged;
	dst->unchanged += src->unchanged;
	dst->skipped += src->skipped;
	dst->failed += src->failed;
	dst->vanished += src->vanished;
	dst->report |= src->report;
}

int
result_addf(struct result *r, int action, const char *path, int is_dir,
    const char *fmt, ...)
{
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return result_add(r, action, path, is_dir, reason);
}

int
result_is_skip(int action)
{
	return action == ITEM_SKIP || action == ITEM_HELD;
}

const char *
result_verb(int action)
{
	switch (action) {
	case ITEM_CREATE: return "create";
	case ITEM_REPLACE: return "replace";
	case ITEM_PURGE: return "purge";
	case ITEM_SKIP:
	case ITEM_HELD: return "skip";
	case ITEM_FAIL: return "fail";
	case ITEM_VANISHED: return "vanished";
	}
	return "?";
}

void
result_print(const struct result *r, FILE *f, int all)
{
	for (size_t i = 0; i < r->nitems; i++) {
		const struct item *it = &r->items[i];

		if (!all && !result_is_skip(it->action) &&
		    it->action != ITEM_FAIL && it->action != ITEM_VANISHED)
			continue;
		fprintf(f, "%-7s ", result_verb(it->action));
		path_fputs(it->path, f);
		if (it->is_dir)
			fputc('/', f);
		if (it->reason) {
			/* Reasons can carry a peer's text: one line, no escapes. */
			fputs(it->action == ITEM_HELD ? ": " RESULT_HELD : ": ", f);
			path_fputs(it->reason, f);
		}
		fputc('\n', f);
	}
}

void
result_counts(const struct result *r, char *buf, size_t len)
{
	snprintf(buf, len, "created %llu, replaced %llu, purged %llu, "
	    "unchanged %llu, skipped %llu, failed %llu",
	    (unsigned long long)r->created, (unsigned long long)r->replaced,
	    (unsigned long long)r->purged, (unsigned long long)r->unchanged,
	    (unsigned long long)r->skipped, (unsigned long long)r->failed);
}

void
result_print_summary(const struct result *r, FILE *f)
{
	char counts[RESULT_COUNTS_LEN];

	result_counts(r, counts, sizeof(counts));
	fprintf(f, "%s%s, bytes sent %llu\n", r->report ? "report: " : "",
	    counts, (unsigned long long)r->bytes_sent);
}

/* Length of the valid UTF-8 sequence at p, or 0 when it is not one. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;	/* overlong, out of range, or a surrogate */
	return n;
}

/*
 * File names are bytes, JSON is UTF-8: a byte that is not part of valid
 * UTF-8 is written as \udcXX, as Python's surrogateescape reads it, so
 * the exact name can be recovered (os.fsencode).
 */
void
result_json_string(const char *s, FILE *f)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*p) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if ((n = utf8_len(p)) == 0)
			fprintf(f, "\\udc%02x", *p);
		else {
			fwrite(p, 1, n, f);
			p += n;
			continue;
		}
		p++;
	}
	fputc('"', f);
}

/* An item's reason as a JSON string, with the words a text line shows too. */
static void
reason_json(const struct item *it, FILE *f)
{
	char *s = NULL;

	if (it->action == ITEM_HELD && asprintf(&s, "%s%s", RESULT_HELD,
	    it->reason ? it->reason : "") != -1) {
		result_json_string(s, f);
		free(s);
		return;
	}
	result_json_string(it->reason ? it->reason : "", f);
}

static void
json_entries(const struct result *r, int action, FILE *f)
{
	int first = 1;

	fputc('[', f);
	for (size_t i = 0; i < r->nitems; i++) {
		const struct item *it = &r->items[i];

		if (it->action != action && !(action == ITEM_SKIP &&
		    it->action == ITEM_HELD))
			continue;
		fputs(first ? "{\"path\":" : ",{\"path\":", f);
		result_json_string(it->path, f);
		fputs(",\"reason\":", f);
		reason_json(it, f);
		fputc('}', f);
		first = 0;
	}
	fputc(']', f);
}

void
result_print_json(const struct result *r, FILE *f)
{
	result_json(r, f, NULL, 0);
	fputc('\n', f);
}

void
result_json(const struct result *r, FILE *f, const char *dest, int failed)
{
	fputc('{', f);
	if (dest != NULL) {
		fputs("\"destination\":", f);
		result_json_string(dest, f);
		fprintf(f, ",\"session_failed\":%s,", failed ? "true" : "false");
	}
	fprintf(f, "\"created\":%llu,\"replaced\":%llu,\"purged\":%llu,"
	    "\"unchanged\":%llu,\"skipped\":%llu,\"failed\":%llu,"
	    "\"vanished\":%llu,\"bytes_sent\":%llu,\"report\":%s,"
	    "\"skipped_entries\":",
	    (unsigned long long)r->created, (unsigned long long)r->replaced,
	    (unsigned long long)r->purged, (unsigned long long)r->unchanged,
	    (unsigned long long)r->skipped, (unsigned long long)r->failed,
	    (unsigned long long)r->vanished, (unsigned long long)r->bytes_sent,
	    r->report ? "true" : "false");
	json_entries(r, ITEM_SKIP, f);
	fputs(",\"failed_entries\":", f);
	json_entries(r, ITEM_FAIL, f);
	fputc('}', f);
}

int
result_exit_status(const struct result *r)
{
	return r->skipped || r->failed ? 1 : 0;
}
