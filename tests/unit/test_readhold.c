/*
 * Unit tests for readhold.h: which sources are a store's (a directory
 * with .mirrorfs/staging/ at or above them), whether the source is the
 * store's top, and that a plain tree, or one with a .mirrorfs that is no
 * store's, is not taken for one. (Mounts are t0320's.)
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "readhold.h"
#include "unit.h"

static char base[] = "/tmp/test_readhold.XXXXXX";
static char real[256];	/* base, resolved */

/* Makes base/rel (and its parents). */
static void
mk(const char *rel)
{
	char p[PATH_MAX], *s;

	ck_assert_int_lt(snprintf(p, sizeof(p), "%s/%s", real, rel),
	    (int)sizeof(p));
	for (s = p + strlen(real) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	ck_assert(mkdir(p, 0755) == 0 || access(p, F_OK) == 0);
}

static const char *
at(const char *rel)
{
	static char p[PATH_MAX];

	ck_assert_int_lt(snprintf(p, sizeof(p), "%s/%s", real, rel),
	    (int)sizeof(p));
	return p;
}

static void
setup(void)
{
	char r[PATH_MAX];

	ck_assert_ptr_nonnull(realpath(base, r));
	ck_assert_uint_lt(strlen(r), sizeof(real));
	memcpy(real, r, strlen(r) + 1);
	mk("store/.mirrorfs/staging");
	mk("store/app/bin");
	mk("plain/a");
	mk("fake/.mirrorfs/notes");
}

START_TEST(test_store_top)
{
	char store[PATH_MAX];
	int top = -1;

	ck_assert_int_eq(readhold_find(at("store"), store, sizeof(store), &top), 1);
	ck_assert_str_eq(store, at("store"));
	ck_assert_int_eq(top, 1);
}
END_TEST

START_TEST(test_inside_store)
{
	char store[PATH_MAX];
	int top = -1;

	ck_assert_int_eq(readhold_find(at("store/app/bin"), store,
	    sizeof(store), &top), 1);
	ck_assert_str_eq(store, at("store"));
	ck_assert_int_eq(top, 0);
}
END_TEST

START_TEST(test_through_symlink)
{
	char store[PATH_MAX], link[PATH_MAX];
	int top = -1;

	memcpy(link, at("link"), strlen(at("link")) + 1);
	ck_assert_int_eq(symlink(at("store/app"), link), 0);
	ck_assert_int_eq(readhold_find(link, store, sizeof(store), &top), 1);
	ck_assert_str_eq(store, at("store"));
	ck_assert_int_eq(top, 0);
}
END_TEST

START_TEST(test_plain_tree)
{
	char store[PATH_MAX];
	int top = -1;

	ck_assert_int_eq(readhold_find(at("plain/a"), store, sizeof(store),
	    &top), 0);
	/* A .mirrorfs without staging/ is the tree's own entry, refused as ever. */
	ck_assert_int_eq(readhold_find(at("fake"), store, sizeof(store),
	    &top), 0);
}
END_TEST

START_TEST(test_missing_source)
{
	char store[PATH_MAX];
	int top = -1;

	ck_assert_int_eq(readhold_find(at("nothing/here"), store,
	    sizeof(store), &top), -1);
}
END_TEST

/* A source that is no store's needs no hold: readhold_take says so. */
START_TEST(test_take_plain)
{
	struct readhold rh;
	char why[64];

	readhold_init(&rh);
	ck_assert_int_eq(readhold_take(&rh, at("plain")), 0);
	ck_assert_int_eq(rh.kind, READHOLD_NONE);
	ck_assert_int_eq(readhold_done(&rh, why, sizeof(why)), 0);
}
END_TEST

/* Whether another open of the store's lock can take it now. */
static int
lock_free(void)
{
	int fd = open(at("store/.mirrorfs/lock"), O_RDONLY | O_CLOEXEC), r;

	ck_assert_int_ne(fd, -1);
	r = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return r;
}

/* No mount serves the store: the reader holds its lock, then lets go. */
START_TEST(test_take_lock)
{
	struct readhold rh;
	char why[64];

	log_init("test_readhold", LOG_WARN);
	readhold_init(&rh);
	ck_assert_int_eq(readhold_take(&rh, at("store/app")), 0);
	ck_assert_int_eq(rh.kind, READHOLD_LOCK);
	ck_assert(!lock_free());	/* held */
	ck_assert_int_eq(readhold_done(&rh, why, sizeof(why)), 0);
	ck_assert_int_eq(rh.kind, READHOLD_NONE);
	ck_assert(lock_free());	/* free again */
}
END_TEST

static Suite *
readhold_suite(void)
{
	Suite *su = suite_create("readhold");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_store_top);
	tcase_add_test(tc, test_inside_store);
	tcase_add_test(tc, test_through_symlink);
	tcase_add_test(tc, test_plain_tree);
	tcase_add_test(tc, test_missing_source);
	tcase_add_test(tc, test_take_plain);
	tcase_add_test(tc, test_take_lock);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(readhold_suite(), base);
}
