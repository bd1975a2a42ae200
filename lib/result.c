/* result: a session's counts and its per-entry report lines. */
#include "result.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "path.h"

void
result_init(struct result *r)
{
	memset(r, 0, sizeof(*r));
}

void
result_release(struct result *r)
{
	for (size_t i = 0; i < r->nitems; i++)
		result_item_release(&r->items[i]);
	free(r->items);
	hops_release(&r->hops);
	result_init(r);
}

void
result_item_release(struct item *it)
{
	free(it->path);
	free(it->reason);
	free(it->target);
	it->path = it->reason = it->target = NULL;
}

void
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
	struct item it = { .action = action, .is_dir = is_dir,
	    .path = (char *)path, .reason = (char *)reason };

	return result_add_item(r, &it);
}

int
result_add_item(struct result *r, const struct item *src)
{
	result_count(r, src->action);
	return result_keep_item(r, src);
}

int
result_keep_item(struct result *r, const struct item *src)
{
	struct item it = *src;

	it.path = strdup(src->path);
	it.reason = src->reason ? strdup(src->reason) : NULL;
	it.target = src->target ? strdup(src->target) : NULL;
	if (it.path == NULL || (src->reason && it.reason == NULL) ||
	    (src->target && it.target == NULL)) {
		result_item_release(&it);
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
			result_item_release(it);
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
	case ITEM_TOUCH: return "touch";
	}
	return "?";
}

/* A skip, failure or vanished entry: always reported. */
static int
is_problem(int action)
{
	return result_is_skip(action) || action == ITEM_FAIL ||
	    action == ITEM_VANISHED;
}

/* The text line of an item: "verb path[/][: reason]". */
static void
print_line(const struct item *it, FILE *f)
{
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

void
result_print(const struct result *r, FILE *f, int all)
{
	for (size_t i = 0; i < r->nitems; i++) {
		const struct item *it = &r->items[i];

		if (it->action != ITEM_TOUCH && (all || is_problem(it->action)))
			print_line(it, f);
	}
}

/* rsync's Y: how the entry was updated. */
static char
itemize_update(const struct item *it)
{
	if (it->changes & ITEM_CH_HLINK)
		return 'h';
	if (it->changes & ITEM_CH_DATA)
		return '>';
	if (it->changes & (ITEM_CH_NEW | ITEM_CH_REMADE))
		return 'c';
	return '.';
}

void
result_itemize(const struct item *it, char *out)
{
	static const struct { uint16_t bit; char c; } cols[] = {
		{ ITEM_CH_SUM, 'c' }, { ITEM_CH_SIZE, 's' },
		{ ITEM_CH_TIME, 't' }, { ITEM_CH_PERMS, 'p' },
		{ ITEM_CH_OWNER, 'o' }, { ITEM_CH_GROUP, 'g' },
		{ 0, 'u' }, { 0, 'a' }, { ITEM_CH_XATTR, 'x' },
	};
	size_t k;

	if (it->action == ITEM_PURGE) {
		/* rsync's message in the field, padded to its width. */
		snprintf(out, RESULT_ITEMIZE_LEN, "%-*s",
		    RESULT_ITEMIZE_LEN - 1, "*deleting");
		return;
	}
	out[0] = itemize_update(it);
	out[1] = it->kind ? it->kind : '?';
	for (k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
		out[2 + k] = (it->changes & ITEM_CH_NEW) ? '+' :
		    (cols[k].bit & it->changes) ? cols[k].c : '.';
	out[2 + k] = '\0';
}

void
result_print_itemized(const struct result *r, FILE *f)
{
	char s[RESULT_ITEMIZE_LEN];

	for (size_t i = 0; i < r->nitems; i++) {
		const struct item *it = &r->items[i];

		if (is_problem(it->action)) {
			print_line(it, f);
			continue;
		}
		result_itemize(it, s);
		fprintf(f, "%s ", s);
		path_fputs(it->path, f);
		if (it->is_dir)
			fputc('/', f);
		if (it->target != NULL && it->action != ITEM_PURGE) {
			fputs(it->changes & ITEM_CH_HLINK ? " => " : " -> ", f);
			path_fputs(it->target, f);
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
	char counts[RESULT_COUNTS_LEN], rate[FORMAT_LEN];
	double t = r->stats.elapsed;

	result_counts(r, counts, sizeof(counts));
	format_bytes(rate, sizeof(rate), t > 0 ? (double)r->bytes_sent / t : 0);
	fprintf(f, "%s%s, bytes sent %llu in %.2f s (%s/s)\n",
	    r->report ? "report: " : "", counts,
	    (unsigned long long)r->bytes_sent, t, rate);
	hops_text(&r->hops, f, "");
}

void
result_print_stats(const struct result *r, FILE *f)
{
	const struct result_stats *st = &r->stats;
	char v[8][FORMAT_LEN], copied[FORMAT_LEN];
	uint64_t wire = r->bytes_sent + st->bytes_received;
	double t = st->elapsed;

	format_count(v[0], sizeof(v[0]), st->files);
	format_count(v[1], sizeof(v[1]), st->total_size);
	format_count(v[2], sizeof(v[2]), st->sent_size);
	format_count(v[3], sizeof(v[3]), r->bytes_sent);
	format_count(v[4], sizeof(v[4]), st->bytes_received);
	format_count(v[5], sizeof(v[5]), st->regular);
	format_count(v[6], sizeof(v[6]), st->dirs);
	format_count(v[7], sizeof(v[7]), st->symlinks);
	/* As rsync: devices and specials only when there are some. */
	fprintf(f, "Number of files: %s (reg: %s, dir: %s, link: %s", v[0],
	    v[5], v[6], v[7]);
	if (st->devices)
		fprintf(f, ", dev: %llu", (unsigned long long)st->devices);
	if (st->specials)
		fprintf(f, ", special: %llu", (unsigned long long)st->specials);
	fputs(")\n", f);
	fprintf(f, "Number of created files: %llu\n"
	    "Number of replaced files: %llu\n"
	    "Number of deleted files: %llu\n"
	    "Number of regular files transferred: %llu\n",
	    (unsigned long long)r->created, (unsigned long long)r->replaced,
	    (unsigned long long)r->purged, (unsigned long long)st->sent_files);
	fprintf(f, "Total file size: %s bytes\n"
	    "Total transferred file size: %s bytes\n", v[1], v[2]);
	/* A local destination copies most files itself, off the wire. */
	if (st->copied_size > 0) {
		format_count(copied, sizeof(copied), st->copied_size);
		fprintf(f, "Of it copied from the source's files, not sent: "
		    "%s bytes\n", copied);
	}
	fprintf(f, "Total bytes sent: %s\n"
	    "Total bytes received: %s\n"
	    "Elapsed time: %.3f seconds\n\n",
	    v[3], v[4], t);
	fprintf(f, "sent %s bytes  received %s bytes  %.2f bytes/sec\n",
	    v[3], v[4], t > 0 ? (double)wire / t : 0);
	fprintf(f, "total size is %s  speedup is %.2f%s\n", v[1],
	    wire > 0 ? (double)st->total_size / (double)wire : 0,
	    r->report ? " (DRY RUN)" : "");
}

const char *
result_status(const struct result *r, enum result_end end)
{
	if (end == RESULT_FAILED)
		return "failed";
	if (end == RESULT_UNKNOWN)
		return "unknown";
	return result_exit_status(r) ? "partial" : "ok";
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

/*
 * An item's reason as a JSON string, with the words a text line shows too
 * ("held back: "), or null when it has none.
 */
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
	if (it->reason != NULL)
		result_json_string(it->reason, f);
	else
		fputs("null", f);
}

/* The entries: every one with all, else the problems. */
static void
json_entries(const struct result *r, int all, FILE *f)
{
	int first = 1;

	fputc('[', f);
	for (size_t i = 0; i < r->nitems; i++) {
		const struct item *it = &r->items[i];

		if (it->action == ITEM_TOUCH || (!all && !is_problem(it->action)))
			continue;
		fprintf(f, "%s{\"action\":\"%s\",\"path\":", first ? "" : ",",
		    result_verb(it->action));
		result_json_string(it->path, f);
		fprintf(f, ",\"dir\":%s,\"reason\":", it->is_dir ? "true" :
		    "false");
		reason_json(it, f);
		fputc('}', f);
		first = 0;
	}
	fputc(']', f);
}

static void
json_stats(const struct result_stats *st, FILE *f)
{
	fprintf(f, "{\"files\":%llu,\"regular\":%llu,\"dirs\":%llu,"
	    "\"symlinks\":%llu,\"devices\":%llu,\"specials\":%llu,"
	    "\"total_size\":%llu,\"transferred_files\":%llu,"
	    "\"transferred_size\":%llu,\"copied_size\":%llu}",
	    (unsigned long long)st->files, (unsigned long long)st->regular,
	    (unsigned long long)st->dirs, (unsigned long long)st->symlinks,
	    (unsigned long long)st->devices, (unsigned long long)st->specials,
	    (unsigned long long)st->total_size,
	    (unsigned long long)st->sent_files,
	    (unsigned long long)st->sent_size,
	    (unsigned long long)st->copied_size);
}

/* As every time in our JSON: RFC 3339 local time with its offset. */
static void
json_delivered(FILE *f, int64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)t };
	char buf[FORMAT_TIME_LEN];

	if (t <= 0) {
		fputs("null", f);
		return;
	}
	format_rfc3339(buf, sizeof(buf), &ts, 0);
	fprintf(f, "\"%s\"", buf);
}

/* The hops a relay reported (hops.h), as a JSON array. */
static void
json_hops(const struct hops *h, FILE *f)
{
	fputc('[', f);
	for (size_t i = 0; i < h->n; i++) {
		const struct hop *e = &h->v[i];

		fprintf(f, "%s{\"depth\":%d,\"destination\":", i ? "," : "",
		    e->depth);
		result_json_string(e->dest, f);
		fprintf(f, ",\"state\":\"%s\",\"generation\":",
		    hops_state_name(e->state));
		if (e->has_gen)
			fprintf(f, "%llu", (unsigned long long)e->gen);
		else
			fputs("null", f);
		fputs(",\"delivered\":", f);
		json_delivered(f, e->delivered);
		fputs(",\"error\":", f);
		if (e->error != NULL)
			result_json_string(e->error, f);
		else
			fputs("null", f);
		fputc('}', f);
	}
	fputc(']', f);
}

void
result_json(const struct result *r, FILE *f, const char *dest,
    enum result_end end, const char *error, int all)
{
	fputc('{', f);
	if (dest != NULL) {
		fputs("\"destination\":", f);
		result_json_string(dest, f);
		fputc(',', f);
	}
	fprintf(f, "\"status\":\"%s\",\"error\":", result_status(r, end));
	if (error != NULL)
		result_json_string(error, f);
	else
		fputs("null", f);
	fprintf(f, ",\"report\":%s,\"created\":%llu,\"replaced\":%llu,"
	    "\"purged\":%llu,\"unchanged\":%llu,\"skipped\":%llu,"
	    "\"failed\":%llu,\"vanished\":%llu,\"bytes_sent\":%llu,"
	    "\"bytes_received\":%llu,\"elapsed\":%.3f,\"stats\":",
	    r->report ? "true" : "false",
	    (unsigned long long)r->created, (unsigned long long)r->replaced,
	    (unsigned long long)r->purged, (unsigned long long)r->unchanged,
	    (unsigned long long)r->skipped, (unsigned long long)r->failed,
	    (unsigned long long)r->vanished, (unsigned long long)r->bytes_sent,
	    (unsigned long long)r->stats.bytes_received, r->stats.elapsed);
	json_stats(&r->stats, f);
	fputs(",\"entries\":", f);
	json_entries(r, all, f);
	fputs(",\"hops\":", f);
	json_hops(&r->hops, f);
	fputc('}', f);
}

int
result_exit_status(const struct result *r)
{
	return r->skipped || r->failed ? 1 : 0;
}
