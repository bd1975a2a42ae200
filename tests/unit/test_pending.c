/*
 * Unit tests for pending.h: changed paths are owed per destination and
 * dropped only by that destination's committed session; failures back
 * off; held-back paths wait for what can change them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pending.h"
#include "unit.h"

static char base[] = "/tmp/test_pending.XXXXXX";

static const struct pending_opts opts = {
	.quiet = 5, .max_defer = 100, .openupdate = -1,
};

static const unsigned char both[2] = { 1, 1 };
static const unsigned char first_only[2] = { 1, 0 };
static const unsigned char second_only[2] = { 0, 1 };

/* A whole session at now to the n destinations of join, all committed. */
static void
commit_whole(struct pending *p, double now, const unsigned char *join,
    size_t n)
{
	struct pending_take t = { .whole = 1 };

	ck_assert_int_eq(pending_begin(p, now, join, 10, &t), 0);
	ck_assert_ptr_null(t.paths);
	for (size_t d = 0; d < n; d++)
		if (join[d])
			pending_done(p, d, &t.mark, 1);
	pending_take_release(&t);
}

/* A table of two destinations, both past their first whole session. */
static struct pending *
two(void)
{
	struct pending *p = pending_alloc(2, &opts);

	ck_assert_ptr_nonnull(p);
	commit_whole(p, 1, both, 2);
	ck_assert_int_eq(pending_dest(p, 0)->whole, 0);
	ck_assert_int_eq(pending_dest(p, 1)->whole, 0);
	return p;
}

static double
ready_of(const struct pending *p, size_t d)
{
	double r[2];

	pending_ready(p, r);
	return r[d];
}

/* Begins a partial session at now to join; it must carry want paths. */
static void
begin(struct pending *p, double now, const unsigned char *join,
    struct pending_take *t, size_t want)
{
	memset(t, 0, sizeof(*t));
	ck_assert_int_eq(pending_begin(p, now, join, 1000, t), 0);
	ck_assert_int_eq(t->whole, 0);
	ck_assert_uint_eq(t->npaths, want);
}

START_TEST(test_new_owes_whole)
{
	struct pending *p = pending_alloc(3, &opts);

	ck_assert_ptr_nonnull(p);
	for (size_t d = 0; d < 3; d++) {
		ck_assert_int_eq(pending_dest(p, d)->whole, 1);
		ck_assert_uint_eq(pending_dest(p, d)->npaths, 0);
	}
	ck_assert_ptr_null(pending_alloc(0, &opts));
	pending_free(p);
	pending_free(NULL);
}
END_TEST

START_TEST(test_dropped_per_destination)
{
	struct pending *p = two();
	struct pending_take t;

	ck_assert_int_eq(pending_change(p, "a", 10, 0), 0);
	ck_assert_int_eq(pending_change(p, "b", 11, 0), 0);
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 2);
	ck_assert_uint_eq(pending_dest(p, 1)->npaths, 2);
	/* Ready once quiet: a at 15 (b, at 16, goes along). */
	ck_assert(ready_of(p, 0) == 15);
	begin(p, 15, both, &t, 2);
	/* b was held back (not quiet yet) at the first, sent to the second. */
	pending_hold(p, 0, &t.mark, "b", "changed 4.0s ago", 0);
	pending_done(p, 0, &t.mark, 0);
	pending_failed(p, 1, 0, 15.5, "connection refused", 1, 300);
	pending_take_release(&t);
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 1);	/* b */
	ck_assert_uint_eq(pending_dest(p, 1)->npaths, 2);	/* a and b */
	ck_assert_uint_eq(pending_npaths(p), 2);
	ck_assert(ready_of(p, 0) == 16);
	/* The retry carries everything the second one missed. */
	begin(p, 17, second_only, &t, 2);
	pending_done(p, 1, &t.mark, 0);
	pending_take_release(&t);
	ck_assert_uint_eq(pending_dest(p, 1)->npaths, 0);
	ck_assert_int_eq(pending_dest(p, 1)->failing, 0);
	/* b, carried to the second only, is still owed to the first. */
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 1);
	ck_assert(ready_of(p, 1) == 0);
	begin(p, 18, first_only, &t, 1);
	ck_assert_str_eq(t.paths[0], "b");
	pending_done(p, 0, &t.mark, 0);
	pending_take_release(&t);
	ck_assert_uint_eq(pending_npaths(p), 0);
	pending_free(p);
}
END_TEST

START_TEST(test_change_during_session_stays)
{
	struct pending *p = two();
	struct pending_take t;

	pending_change(p, "a", 10, 0);
	begin(p, 15, both, &t, 1);
	pending_change(p, "a", 15.5, 0);	/* while the session reads it */
	pending_done(p, 0, &t.mark, 0);
	pending_done(p, 1, &t.mark, 0);
	pending_take_release(&t);
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 1);
	ck_assert_uint_eq(pending_dest(p, 1)->npaths, 1);
	ck_assert(ready_of(p, 0) == 20.5);
	pending_free(p);
}
END_TEST

START_TEST(test_held_not_carried_until_ready)
{
	struct pending *p = two();
	struct pending_take t;

	pending_change(p, "log", 10, 0);
	pending_change(p, "a", 14, 0);
	/* Every ordinary change goes, quiet or not. */
	begin(p, 15, both, &t, 2);
	pending_hold(p, 0, &t.mark, "log", "open for update", 1);
	pending_hold(p, 0, &t.mark, "a", "changed 1.0s ago", 0);
	pending_done(p, 0, &t.mark, 0);
	pending_take_release(&t);
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 2);
	/* a is looked at again once quiet; log (open) not before max_defer. */
	ck_assert(ready_of(p, 0) == 19);
	begin(p, 19, first_only, &t, 1);
	ck_assert_str_eq(t.paths[0], "a");
	pending_done(p, 0, &t.mark, 0);
	pending_take_release(&t);
	ck_assert(ready_of(p, 0) == 110);
	/* With all (sync-now), a session takes it although it is held. */
	memset(&t, 0, sizeof(t));
	t.all = 1;
	ck_assert_int_eq(pending_begin(p, 20, first_only, 1000, &t), 0);
	ck_assert_uint_eq(t.npaths, 1);
	ck_assert_str_eq(t.paths[0], "log");
	pending_take_release(&t);
	pending_free(p);
}
END_TEST

START_TEST(test_backoff)
{
	struct pending *p = two();
	const struct pending_dest *pd = pending_dest(p, 1);
	static const int want[] = { 2, 4, 8, 10, 10 };

	pending_failed(p, 1, 0, 100, "refused", 2, 10);
	ck_assert_int_eq(pd->failing, 1);
	ck_assert_uint_eq(pd->attempts, 1);
	ck_assert(pd->since == 100);
	ck_assert(pd->next_attempt == 102);
	ck_assert_str_eq(pd->error, "refused");
	for (size_t i = 1; i < sizeof(want) / sizeof(want[0]); i++) {
		pending_failed(p, 1, 0, 200 + (double)i, "timed out", 2, 10);
		ck_assert_int_eq(pd->backoff, want[i]);
		ck_assert(pd->next_attempt == 200 + (double)i + want[i]);
	}
	ck_assert(pd->since == 100);	/* the first failure of the run */
	ck_assert_str_eq(pd->error, "timed out");
	/* The other destination is not affected. */
	ck_assert_int_eq(pending_dest(p, 0)->failing, 0);
	/* A committed session ends the run; the next failure starts over. */
	commit_whole(p, 300, second_only, 2);
	ck_assert_int_eq(pd->failing, 0);
	ck_assert_uint_eq(pd->attempts, 0);
	ck_assert_str_eq(pd->error, "");
	pending_failed(p, 1, 0, 400, "refused", 2, 10);
	ck_assert_int_eq(pd->backoff, 2);
	ck_assert(pd->since == 400);
	pending_free(p);
}
END_TEST

START_TEST(test_failed_whole_is_owed)
{
	struct pending *p = two();
	struct pending_take t = { .whole = 1 };

	ck_assert_int_eq(pending_begin(p, 50, both, 10, &t), 0);
	pending_done(p, 0, &t.mark, 1);
	pending_failed(p, 1, 1, 51, "refused", 1, 300);
	pending_take_release(&t);
	ck_assert_int_eq(pending_dest(p, 0)->whole, 0);
	ck_assert_int_eq(pending_dest(p, 1)->whole, 1);
	pending_free(p);
}
END_TEST

START_TEST(test_whole_asked_during_session)
{
	struct pending *p = two();
	struct pending_take t = { .whole = 1 };

	pending_whole(p, 1);
	ck_assert_int_eq(pending_dest(p, 0)->kick, 1);
	ck_assert_int_eq(pending_begin(p, 50, both, 10, &t), 0);
	ck_assert_ptr_null(t.paths);
	ck_assert_int_eq(pending_dest(p, 0)->kick, 0);
	pending_whole(p, 0);	/* events lost while it runs */
	pending_done(p, 0, &t.mark, 1);
	pending_take_release(&t);
	ck_assert_int_eq(pending_dest(p, 0)->whole, 1);
	pending_free(p);
}
END_TEST

START_TEST(test_whole_clears_every_path)
{
	struct pending *p = two();

	pending_change(p, "a", 10, 0);
	pending_change(p, "b", 49, 0);	/* not ready: a walk still covers it */
	commit_whole(p, 50, first_only, 2);
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 0);
	ck_assert_uint_eq(pending_dest(p, 1)->npaths, 2);
	pending_free(p);
}
END_TEST

START_TEST(test_too_many_is_whole)
{
	struct pending *p = two();
	struct pending_take t = { 0 };
	char path[16];

	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "f%d", i);
		pending_change(p, path, 10, 0);
	}
	ck_assert_int_eq(pending_begin(p, 20, both, 19, &t), 0);
	ck_assert_int_eq(t.whole, 1);
	ck_assert_ptr_null(t.paths);
	pending_take_release(&t);
	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(pending_begin(p, 20, both, 20, &t), 0);
	ck_assert_int_eq(t.whole, 0);
	ck_assert_uint_eq(t.npaths, 20);
	pending_take_release(&t);
	pending_free(p);
}
END_TEST

START_TEST(test_held_open_waits_for_close)
{
	struct pending *p = two();
	struct pending_take t;
	struct pending_held h;
	size_t pos = 0;

	pending_change(p, "log", 10, 0);
	begin(p, 15, both, &t, 1);
	ck_assert_int_eq(pending_hold(p, 0, &t.mark, "log", "open for update",
	    1), 0);
	ck_assert_int_eq(pending_hold(p, 1, &t.mark, "log", "open for update",
	    1), 0);
	pending_done(p, 0, &t.mark, 0);
	pending_done(p, 1, &t.mark, 0);
	pending_take_release(&t);
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 1);
	ck_assert_int_eq(pending_next_held(p, &pos, &h), 1);
	ck_assert_str_eq(h.path, "log");
	ck_assert_str_eq(h.reason, "open for update");
	ck_assert_int_eq(h.open, 1);
	ck_assert(h.since == 15);
	ck_assert_int_eq(pending_next_held(p, &pos, &h), 0);
	/* Not looked at again before max_defer, however long it stays quiet. */
	ck_assert(ready_of(p, 0) == 110);
	/* Written to while open: still held, still not ready. */
	pending_change(p, "log", 30, 0);
	ck_assert(ready_of(p, 0) == 110);
	pos = 0;
	ck_assert_int_eq(pending_next_held(p, &pos, &h), 1);
	/* Closed: an ordinary change, ready once quiet. */
	pending_change(p, "log", 40, 1);
	ck_assert(ready_of(p, 0) == 45);
	pos = 0;
	ck_assert_int_eq(pending_next_held(p, &pos, &h), 0);
	pending_free(p);
}
END_TEST

START_TEST(test_held_open_openupdate)
{
	struct pending_opts o = opts;
	struct pending *p;
	struct pending_take t = { .whole = 1 };

	o.openupdate = 20;
	p = pending_alloc(1, &o);
	ck_assert_int_eq(pending_begin(p, 10, both, 10, &t), 0);
	ck_assert_int_eq(pending_hold(p, 0, &t.mark, "db", "open for update",
	    1), 0);
	pending_done(p, 0, &t.mark, 1);
	pending_take_release(&t);
	ck_assert(ready_of(p, 0) == 30);	/* unchanged for openupdate */
	pending_change(p, "db", 25, 0);
	ck_assert(ready_of(p, 0) == 45);
	pending_free(p);
}
END_TEST

/*
 * A session of the first destination at now carries path, which it holds
 * back (quiet-window reason); it is looked at again at want.
 */
static void
held_again(struct pending *p, double now, const char *path, double want)
{
	struct pending_take t;

	begin(p, now, first_only, &t, 1);
	pending_hold(p, 0, &t.mark, path, "changed -3.0s ago", 0);
	pending_done(p, 0, &t.mark, 0);
	pending_take_release(&t);
	ck_assert_msg(ready_of(p, 0) == want, "ready at %g, not %g",
	    ready_of(p, 0), want);
}

START_TEST(test_held_quiet_backs_off)
{
	struct pending *p = two();

	pending_change(p, "future", 10, 0);
	/* Held for the quiet window each time (a file dated in the future):
	   looked at again after quiet, then twice as long each time... */
	held_again(p, 15, "future", 20);
	held_again(p, 20, "future", 30);
	held_again(p, 30, "future", 50);
	held_again(p, 50, "future", 90);
	/* ... but never past max_defer from its first change. */
	held_again(p, 90, "future", 110);
	pending_free(p);
}
END_TEST

START_TEST(test_hold_found_by_walk)
{
	struct pending *p = two();
	struct pending_take t = { .whole = 1 };

	/* A whole session finds a file nobody reported: owed to d0 only. */
	ck_assert_int_eq(pending_begin(p, 10, first_only, 10, &t), 0);
	ck_assert_int_eq(pending_hold(p, 0, &t.mark, "x", "open for update",
	    1), 0);
	pending_done(p, 0, &t.mark, 1);
	pending_take_release(&t);
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 1);
	ck_assert_uint_eq(pending_dest(p, 1)->npaths, 0);
	pending_free(p);
}
END_TEST

START_TEST(test_hold_after_change_is_a_change)
{
	struct pending *p = two();
	struct pending_take t;
	struct pending_held h;
	size_t pos = 0;

	pending_change(p, "log", 10, 0);
	begin(p, 15, first_only, &t, 1);
	pending_change(p, "log", 15.2, 1);	/* closed while the session ran */
	pending_hold(p, 0, &t.mark, "log", "open for update", 1);
	pending_done(p, 0, &t.mark, 0);
	pending_take_release(&t);
	ck_assert_int_eq(pending_next_held(p, &pos, &h), 0);
	ck_assert(ready_of(p, 0) == 20.2);
	pending_free(p);
}
END_TEST

START_TEST(test_max_defer_forces)
{
	struct pending *p = two();
	struct pending_take t;

	/* Changed every 2 s (never quiet) from 10 to 112. */
	for (int s = 10; s <= 112; s += 2)
		pending_change(p, "busy", s, 0);
	ck_assert(ready_of(p, 0) == 110);
	begin(p, 112, both, &t, 1);
	ck_assert_uint_eq(t.nforced, 1);
	ck_assert_str_eq(t.forced[0], "busy");
	pending_done(p, 0, &t.mark, 0);
	pending_done(p, 1, &t.mark, 0);
	pending_take_release(&t);
	ck_assert_uint_eq(pending_npaths(p), 0);
	/* After a quiet spell, a change starts a new wait. */
	pending_change(p, "busy", 200, 0);
	ck_assert(ready_of(p, 0) == 205);
	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(pending_begin(p, 205, both, 10, &t), 0);
	ck_assert_uint_eq(t.nforced, 0);
	pending_take_release(&t);
	pending_free(p);
}
END_TEST

START_TEST(test_many_destinations)
{
	struct pending *p = pending_alloc(130, &opts);
	unsigned char join[130] = { 0 };
	struct pending_take t;

	memset(join, 1, sizeof(join));
	commit_whole(p, 1, join, 130);
	pending_change(p, "a", 10, 0);
	memset(join, 0, sizeof(join));
	join[129] = join[64] = join[0] = 1;
	begin(p, 20, join, &t, 1);
	for (size_t d = 0; d < 130; d++)
		if (join[d])
			pending_done(p, d, &t.mark, 0);
	pending_take_release(&t);
	for (size_t d = 0; d < 130; d++)
		ck_assert_uint_eq(pending_dest(p, d)->npaths, join[d] ? 0 : 1);
	pending_free(p);
}
END_TEST

START_TEST(test_too_many_owed_is_whole)
{
	struct pending_opts o = opts;
	struct pending *p;
	struct pending_take t;
	char path[16];

	o.max_paths = 3;
	p = pending_alloc(2, &o);
	commit_whole(p, 1, both, 2);
	pending_change(p, "log", 2, 0);
	begin(p, 8, both, &t, 1);
	pending_hold(p, 0, &t.mark, "log", "open for update", 1);
	pending_done(p, 0, &t.mark, 0);
	pending_take_release(&t);
	/* The second destination is down: it is owed more and more. */
	pending_failed(p, 1, 0, 9, "refused", 1, 300);
	pending_change(p, "f0", 10, 0);
	pending_change(p, "f1", 10, 0);
	begin(p, 15, first_only, &t, 2);	/* f0, f1 (log waits) */
	pending_done(p, 0, &t.mark, 0);
	pending_take_release(&t);
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 1);	/* log */
	ck_assert_uint_eq(pending_dest(p, 1)->npaths, 3);	/* log, f0, f1 */
	pending_change(p, "f2", 16, 0);
	/* Past 3: a whole session instead; it keeps only the held log. */
	ck_assert_uint_eq(pending_dest(p, 1)->npaths, 1);
	ck_assert_int_eq(pending_dest(p, 1)->whole, 1);
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 2);	/* log, f2 */
	ck_assert_int_eq(pending_dest(p, 0)->whole, 0);
	for (int i = 3; i < 5; i++) {
		snprintf(path, sizeof(path), "f%d", i);
		pending_change(p, path, 17, 0);
	}
	ck_assert_uint_eq(pending_dest(p, 0)->npaths, 1);
	ck_assert_int_eq(pending_dest(p, 0)->whole, 1);
	/* The second, owed a whole session, still counts what changes
	   after (a whole session already running would not carry it). */
	ck_assert_uint_eq(pending_dest(p, 1)->npaths, 3);	/* log, f3, f4 */
	pending_free(p);
}
END_TEST

START_TEST(test_paths_of)
{
	struct pending *p = two();
	const char *v[4];

	pending_change(p, "a", 1, 0);
	pending_change(p, "b", 1, 0);
	pending_change(p, "c", 1, 0);
	ck_assert_uint_eq(pending_paths_of(p, 0, v, 2), 2);
	ck_assert_uint_eq(pending_paths_of(p, 1, v, 4), 3);
	ck_assert_str_eq(v[2], "c");
	pending_free(p);
}
END_TEST

START_TEST(test_copy)
{
	struct pending *p = two(), *q;
	struct pending_take t;
	const long map[3] = { 1, -1, 0 };	/* swapped, and a new one */
	size_t pos = 0;
	struct pending_held h;

	pending_change(p, "a", 10, 0);
	begin(p, 15, first_only, &t, 1);
	pending_done(p, 0, &t.mark, 0);
	pending_take_release(&t);
	pending_failed(p, 1, 0, 16, "refused", 1, 300);
	pending_change(p, "log", 17, 0);
	begin(p, 22, both, &t, 2);	/* a for the second, log for both */
	pending_hold(p, 1, &t.mark, "log", "open for update", 1);
	pending_take_release(&t);
	q = pending_alloc(3, &opts);
	ck_assert_int_eq(pending_copy(q, p, map), 0);
	/* New 0 is old 1: failing, owed a and log. */
	ck_assert_int_eq(pending_dest(q, 0)->failing, 1);
	ck_assert_str_eq(pending_dest(q, 0)->error, "refused");
	ck_assert_uint_eq(pending_dest(q, 0)->npaths, 2);
	ck_assert_int_eq(pending_dest(q, 0)->whole, 0);
	/* New 1 is new: a whole session, at once. */
	ck_assert_int_eq(pending_dest(q, 1)->whole, 1);
	ck_assert_int_eq(pending_dest(q, 1)->kick, 1);
	ck_assert_uint_eq(pending_dest(q, 1)->npaths, 0);
	/* New 2 is old 0: owed log only. */
	ck_assert_uint_eq(pending_dest(q, 2)->npaths, 1);
	ck_assert_int_eq(pending_next_held(q, &pos, &h), 1);
	ck_assert_str_eq(h.path, "log");
	pending_free(p);
	pending_free(q);
}
END_TEST

static Suite *
pending_suite(void)
{
	Suite *su = suite_create("pending");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_new_owes_whole);
	tcase_add_test(tc, test_dropped_per_destination);
	tcase_add_test(tc, test_change_during_session_stays);
	tcase_add_test(tc, test_held_not_carried_until_ready);
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_failed_whole_is_owed);
	tcase_add_test(tc, test_whole_asked_during_session);
	tcase_add_test(tc, test_whole_clears_every_path);
	tcase_add_test(tc, test_too_many_is_whole);
	tcase_add_test(tc, test_held_open_waits_for_close);
	tcase_add_test(tc, test_held_open_openupdate);
	tcase_add_test(tc, test_held_quiet_backs_off);
	tcase_add_test(tc, test_hold_found_by_walk);
	tcase_add_test(tc, test_hold_after_change_is_a_change);
	tcase_add_test(tc, test_max_defer_forces);
	tcase_add_test(tc, test_many_destinations);
	tcase_add_test(tc, test_too_many_owed_is_whole);
	tcase_add_test(tc, test_paths_of);
	tcase_add_test(tc, test_copy);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(pending_suite(), base);
}
