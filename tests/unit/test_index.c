/*
 * Unit tests for store/index.h: the index says what the store's tree
 * says (names, stat, symlink targets, xattrs), after a build, a save and
 * load, refreshes of changed paths and renames.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log.h"
#include "store/index.h"
#include "store/master.h"
#include "unit.h"

static char base[] = "/tmp/test_index.XXXXXX";
static char top[sizeof(base) + 16];
static struct store s;
static struct index ix;
static struct store_dir dir = STORE_DIR_INIT;
static int gone_calls;

static void
spath(char *p, size_t n, const char *rel)
{
	if (snprintf(p, n, "%s/%s", top, rel) >= (int)n)
		ck_abort_msg("%s: too long", rel);
}

static void
make_file(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	spath(p, sizeof(p), rel);
	f = fopen(p, "w");
	ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void
make_dir(const char *rel)
{
	char p[PATH_MAX];

	spath(p, sizeof(p), rel);
	ck_assert_msg(mkdir(p, 0750) == 0, "%s: %s", p, strerror(errno));
}

/* Replaces rel by a new file (a new inode), as a commit's PUT does. */
static void
replace_file(const char *rel, const char *text)
{
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	spath(p, sizeof(p), rel);
	snprintf(tmp, sizeof(tmp), "%s.new", p);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, p), 0);
}

/*
 * Every name below the store's top (but .mirrorfs) is in the index with
 * the store's lstat, target and xattrs, and the index holds no other:
 * the property all these tests check.
 */
static size_t
compare_dir(const char *rel, uint32_t rec)
{
	char p[PATH_MAX], child[PATH_MAX], got[PATH_MAX], want[PATH_MAX];
	struct stat st, is;
	struct dirent *e;
	size_t n = 0, listed = 0, direct = 0, len;
	uint64_t pos = 0;
	const char *name;
	uint32_t kid;
	DIR *dp;

	spath(p, sizeof(p), rel);
	dp = opendir(p);
	ck_assert_ptr_nonnull(dp);
	while ((e = readdir(dp)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    (rel[0] == '\0' && strcmp(e->d_name, ".mirrorfs") == 0))
			continue;
		snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "",
		    e->d_name);
		spath(p, sizeof(p), child);
		ck_assert_int_eq(lstat(p, &st), 0);
		kid = index_lookup(&ix, rec, e->d_name, strlen(e->d_name));
		ck_assert_msg(kid != INDEX_NONE, "%s: not in the index", child);
		index_stat(&ix, kid, &is);
		ck_assert_msg(is.st_ino == st.st_ino && is.st_mode == st.st_mode &&
		    is.st_size == st.st_size && is.st_nlink == st.st_nlink &&
		    is.st_uid == st.st_uid && is.st_mtim.tv_sec ==
		    st.st_mtim.tv_sec && is.st_mtim.tv_nsec == st.st_mtim.tv_nsec &&
		    is.st_ctim.tv_nsec == st.st_ctim.tv_nsec &&
		    is.st_blocks == st.st_blocks, "%s: stat differs", child);
		ck_assert_int_eq(index_path(&ix, kid, got, sizeof(got)) == 0 &&
		    index_resolve(&ix, got) == kid, 1);
		if (S_ISLNK(st.st_mode)) {
			ssize_t k = readlink(p, want, sizeof(want) - 1);

			ck_assert_int_ge(k, 0);
			want[k] = '\0';
			ck_assert_str_eq(index_target(&ix, kid), want);
		}
		{
			char a[4096], b[4096];
			ssize_t la = llistxattr(p, a, sizeof(a));
			ssize_t lb = index_listxattr(&ix, kid, b, sizeof(b));

			ck_assert_int_eq(la < 0 ? 0 : la, lb);
			ck_assert(lb == 0 || memcmp(a, b, (size_t)lb) == 0);
		}
		n++;
		direct++;
		if (S_ISDIR(st.st_mode))
			n += compare_dir(child, kid);
	}
	closedir(dp);
	/* The listing has each name once, and no other. */
	while (index_dir_next(&ix, rec, &pos, &name, &len, &kid)) {
		ck_assert_uint_eq(index_lookup(&ix, rec, name, len), kid);
		listed++;
	}
	ck_assert_uint_eq(listed, direct);
	return n;
}

/* The index is exactly the store. */
static void
assert_exact(void)
{
	size_t names = compare_dir("", INDEX_ROOT);

	ck_assert_uint_eq(ix.entries, names);
}

static void
gone(void *arg, const struct index *x, uint32_t rec)
{
	gone_calls++;
}

static const struct index_hooks hooks = { NULL, gone };

static void
refresh(const char *rel)
{
	ck_assert_int_eq(index_refresh(&ix, &s, &dir, rel, &hooks), 0);
}

static void
setup(void)
{
	char p[PATH_MAX];

	log_init("test_index", LOG_ERROR);
	snprintf(top, sizeof(top), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(top));
	ck_assert_int_eq(master_open(&s, top, MASTER_CREATE, NULL, NULL), 0);
	make_dir("a");
	make_dir("a/b");
	make_file("a/one", "1");
	make_file("a/b/two", "22");
	make_file("top", "top file");
	spath(p, sizeof(p), "a/b/link");
	ck_assert_int_eq(symlink("../one", p), 0);
	spath(p, sizeof(p), "a/one");
	/* A user xattr where the filesystem has them (tmpfs does since 6.6). */
	setxattr(p, "user.mirrorfs", "value", 5, 0);
	index_init(&ix);
	gone_calls = 0;
}

static void
teardown(void)
{
	index_release(&ix);
	store_dir_release(&dir);
	master_close(&s);
	rm_rf(top);
}

START_TEST(test_build_exact)
{
	char buf[64];

	ck_assert_int_eq(index_build(&ix, &s), 0);
	assert_exact();
	ck_assert_uint_eq(index_lookup(&ix, INDEX_ROOT, ".mirrorfs", 9),
	    INDEX_NONE);
	ck_assert_int_eq(index_path(&ix, index_resolve(&ix, "a/b/two"), buf,
	    sizeof(buf)), 0);
	ck_assert_str_eq(buf, "a/b/two");
	ck_assert_int_eq(index_path(&ix, INDEX_ROOT, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, ".");
}
END_TEST

START_TEST(test_xattr_values)
{
	uint32_t rec;
	char v[16];
	char p[PATH_MAX];

	spath(p, sizeof(p), "a/one");
	if (getxattr(p, "user.mirrorfs", v, sizeof(v)) != 5)
		return;		/* no user xattrs here: nothing to compare */
	ck_assert_int_eq(index_build(&ix, &s), 0);
	rec = index_resolve(&ix, "a/one");
	ck_assert_int_eq(index_getxattr(&ix, rec, "user.mirrorfs", v,
	    sizeof(v)), 5);
	ck_assert(memcmp(v, "value", 5) == 0);
	ck_assert_int_eq(index_getxattr(&ix, rec, "user.mirrorfs", NULL, 0), 5);
	ck_assert_int_eq(index_getxattr(&ix, rec, "user.mirrorfs", v, 2), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(index_getxattr(&ix, rec, "user.none", v, sizeof(v)),
	    -1);
	ck_assert_int_eq(errno, ENODATA);
}
END_TEST

START_TEST(test_save_load)
{
	struct index again;
	char p[PATH_MAX], q[PATH_MAX];

	spath(p, sizeof(p), "a/one");
	spath(q, sizeof(q), "a/hard");
	ck_assert_int_eq(link(p, q), 0);
	ck_assert_int_eq(index_build(&ix, &s), 0);
	ck_assert_int_eq(index_save(&ix, &s), 0);
	index_release(&ix);
	ck_assert_int_eq(index_load(&ix, &s), 0);
	assert_exact();
	/* Both names are one record, as both are one inode. */
	ck_assert_uint_eq(index_resolve(&ix, "a/one"),
	    index_resolve(&ix, "a/hard"));
	/* Dropped: nothing to load. */
	ck_assert_int_eq(index_drop(s.metafd), 0);
	index_init(&again);
	ck_assert_int_eq(index_load(&again, &s), -1);
	ck_assert_int_eq(errno, ENOENT);
	index_release(&again);
}
END_TEST

START_TEST(test_load_refuses_corrupt)
{
	int fd;

	ck_assert_int_eq(index_build(&ix, &s), 0);
	ck_assert_int_eq(index_save(&ix, &s), 0);
	index_release(&ix);
	fd = openat(s.metafd, "index", O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, 90), 1);
	close(fd);
	ck_assert_int_eq(index_load(&ix, &s), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(ix.nrecs, 0);
}
END_TEST

START_TEST(test_refresh_changes)
{
	uint32_t old, now;

	ck_assert_int_eq(index_build(&ix, &s), 0);
	old = index_resolve(&ix, "a/b/two");
	index_use(&ix, old, 1);		/* the kernel knows it */
	replace_file("a/b/two", "a new version");
	refresh("a/b/two");
	now = index_resolve(&ix, "a/b/two");
	ck_assert_uint_ne(now, old);
	ck_assert(index_detached(&ix, old));
	ck_assert_int_eq(gone_calls, 1);
	ck_assert_int_eq(index_unuse(&ix, old, 1), 1);
	index_collect(&ix, old);
	ck_assert(!index_valid(&ix, old));
	/* A new directory with contents, made whole before the refresh. */
	make_dir("new");
	make_dir("new/deep");
	make_file("new/deep/f", "f");
	refresh("new/deep/f");	/* parents first, from the store */
	assert_exact();
	/* Removed: the subtree goes. */
	{
		char p[PATH_MAX];

		spath(p, sizeof(p), "a");
		rm_rf(p);
	}
	refresh("a");
	assert_exact();
	ck_assert_uint_eq(index_resolve(&ix, "a/b/two"), INDEX_NONE);
	/* Attributes in place (ATTR). */
	{
		char p[PATH_MAX];

		spath(p, sizeof(p), "top");
		ck_assert_int_eq(chmod(p, 0601), 0);
	}
	refresh("top");
	refresh(".");
	assert_exact();
}
END_TEST

START_TEST(test_rename)
{
	char p[PATH_MAX], q[PATH_MAX];
	uint32_t b, a;

	ck_assert_int_eq(index_build(&ix, &s), 0);
	b = index_resolve(&ix, "a/b");
	a = index_resolve(&ix, "a");
	spath(p, sizeof(p), "a/b");
	spath(q, sizeof(q), "moved");
	ck_assert_int_eq(rename(p, q), 0);
	ck_assert_int_eq(index_rename(&ix, a, "b", INDEX_ROOT, "moved", 0,
	    &hooks), 0);
	ck_assert_uint_eq(index_resolve(&ix, "moved"), b);	/* same record */
	refresh("moved");
	refresh("a");
	assert_exact();
	ck_assert_int_eq(gone_calls, 0);
}
END_TEST

START_TEST(test_many_names)
{
	char name[64];

	/* Enough names to grow every table several times, then most removed. */
	make_dir("many");
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "many/file-with-a-longer-name-%05d", i);
		make_file(name, "x");
	}
	ck_assert_int_eq(index_build(&ix, &s), 0);
	assert_exact();
	for (int i = 0; i < 3000; i++) {
		char p[PATH_MAX];

		if (i % 10 == 0)
			continue;
		snprintf(name, sizeof(name), "many/file-with-a-longer-name-%05d", i);
		spath(p, sizeof(p), name);
		ck_assert_int_eq(unlink(p), 0);
		refresh(name);
	}
	assert_exact();
	ck_assert_int_eq(index_save(&ix, &s), 0);
	index_release(&ix);
	ck_assert_int_eq(index_load(&ix, &s), 0);
	assert_exact();
}
END_TEST

static Suite *
index_suite(void)
{
	Suite *su = suite_create("index");
	TCase *tc = tcase_create("index");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);	/* creating thousands of files */
	tcase_add_test(tc, test_build_exact);
	tcase_add_test(tc, test_xattr_values);
	tcase_add_test(tc, test_save_load);
	tcase_add_test(tc, test_load_refuses_corrupt);
	tcase_add_test(tc, test_refresh_changes);
	tcase_add_test(tc, test_rename);
	tcase_add_test(tc, test_many_names);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(index_suite(), base);
}
