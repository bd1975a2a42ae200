/*
 * Unit tests for hold.h: a commit waits for the live holds, never past
 * their expiry; an expired hold a commit went past reports broken; no
 * hold is granted while a commit waits or runs, and that wait is bounded.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hold.h"
#include "unit.h"

static char base[] = "/tmp/test_hold.XXXXXX";
static struct holds H;

static void
setup(void)
{
	holds_init(&H, 2);
}

static void
teardown(void)
{
	holds_release(&H);
}

/* A commit in a thread of its own: when it began, and how long it waited. */
struct committer {
	pthread_t thread;
	double began;
	uint64_t waited_ms;
	int hold_ms;		/* how long it stays committing */
};

static void *
commit_main(void *arg)
{
	struct committer *c = arg;

	c->waited_ms = holds_commit_begin(&H);
	c->began = clock_now();
	usleep((useconds_t)c->hold_ms * 1000);
	holds_commit_end(&H);
	return NULL;
}

START_TEST(test_no_hold_no_wait)
{
	struct committer c = { .hold_ms = 0 };

	commit_main(&c);
	ck_assert_uint_lt(c.waited_ms, 100);
}
END_TEST

START_TEST(test_commit_waits_for_hold)
{
	struct committer c = { .hold_ms = 0 };
	unsigned granted = 0;
	struct hold *x = hold_take(&H, 2, 1000, &granted);
	double t0;

	ck_assert_ptr_nonnull(x);
	ck_assert_uint_eq(granted, 2);
	ck_assert_int_eq(pthread_create(&c.thread, NULL, commit_main, &c), 0);
	usleep(300 * 1000);
	t0 = clock_now();
	ck_assert_int_eq(hold_end(&H, x), 1);	/* nothing went past it */
	pthread_join(c.thread, NULL);
	ck_assert(c.began >= t0);
	ck_assert_uint_ge(c.waited_ms, 250);
	ck_assert_uint_lt(c.waited_ms, 1500);
}
END_TEST

START_TEST(test_expired_hold_is_broken)
{
	struct committer c = { .hold_ms = 0 };
	unsigned granted = 0;
	struct hold *x = hold_take(&H, 60, 1000, &granted);

	ck_assert_ptr_nonnull(x);
	ck_assert_uint_eq(granted, 2);	/* capped at max_s */
	ck_assert_int_eq(pthread_create(&c.thread, NULL, commit_main, &c), 0);
	pthread_join(c.thread, NULL);
	/* The commit waited for the expiry, not longer. */
	ck_assert_uint_ge(c.waited_ms, 1800);
	ck_assert_uint_lt(c.waited_ms, 3000);
	ck_assert_int_eq(hold_end(&H, x), 0);
}
END_TEST

START_TEST(test_expired_hold_without_commit_held)
{
	unsigned granted = 0;
	struct hold *x = hold_take(&H, 1, 1000, &granted);

	ck_assert_ptr_nonnull(x);
	usleep(1200 * 1000);
	ck_assert_int_eq(hold_end(&H, x), 1);	/* expired, but nothing changed */
}
END_TEST

START_TEST(test_no_hold_while_committing)
{
	struct committer c = { .hold_ms = 700 };
	unsigned granted = 0;
	struct hold *x;
	double t0;

	ck_assert_int_eq(pthread_create(&c.thread, NULL, commit_main, &c), 0);
	usleep(200 * 1000);
	/* Too short a wait: refused. */
	x = hold_take(&H, 1, 100, &granted);
	ck_assert_ptr_null(x);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* Long enough: granted once the commit ended. */
	t0 = clock_now();
	x = hold_take(&H, 1, 5000, &granted);
	ck_assert_ptr_nonnull(x);
	ck_assert(clock_now() - t0 >= 0.2);
	pthread_join(c.thread, NULL);
	ck_assert_int_eq(hold_end(&H, x), 1);
}
END_TEST

START_TEST(test_waiting_commit_keeps_new_holds_out)
{
	struct committer c = { .hold_ms = 0 };
	unsigned granted = 0;
	struct hold *x = hold_take(&H, 2, 1000, &granted), *y;

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(pthread_create(&c.thread, NULL, commit_main, &c), 0);
	usleep(200 * 1000);
	/* The commit waits for x: a second reader must not get in first. */
	y = hold_take(&H, 2, 100, &granted);
	ck_assert_ptr_null(y);
	ck_assert_int_eq(hold_end(&H, x), 1);
	pthread_join(c.thread, NULL);
	ck_assert_uint_lt(c.waited_ms, 1500);
}
END_TEST

static Suite *
hold_suite(void)
{
	Suite *su = suite_create("hold");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_hold_no_wait);
	tcase_add_test(tc, test_commit_waits_for_hold);
	tcase_add_test(tc, test_expired_hold_is_broken);
	tcase_add_test(tc, test_expired_hold_without_commit_held);
	tcase_add_test(tc, test_no_hold_while_committing);
	tcase_add_test(tc, test_waiting_commit_keeps_new_holds_out);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(hold_suite(), base);
}
