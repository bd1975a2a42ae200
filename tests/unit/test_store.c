/*
 * Unit tests for store.h: layout, locking, and path access that never
 * leaves the store through a symlink or "..".
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "store/master.h"
#include "unit.h"

/* Every test's directory is made in base, which main() removes at the end
 * even when a failed test skipped its teardown. */
static char base[] = "/tmp/test_store.XXXXXX";
static char top[sizeof(base) + 16];
static char store_path[PATH_MAX];
static char outside[PATH_MAX];
static struct store s;
static struct store_dir dir = STORE_DIR_INIT;	/* the tests' kept directory */


/* Creates TOP/rel (parents must exist) holding text. */
static void
make_file(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	f = fopen(p, "w");
	ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void
make_dir(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	ck_assert_msg(mkdir(p, 0755) == 0, "%s: %s", p, strerror(errno));
}

static void
make_link(const char *target, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	ck_assert_msg(symlink(target, p) == 0, "%s: %s", p, strerror(errno));
}

/* True when TOP/rel exists (without following a final symlink). */
static int
exists(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return lstat(p, &st) == 0;
}

static void
setup(void)
{
	log_init("test_store", LOG_ERROR);
	snprintf(top, sizeof(top), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(store_path, sizeof(store_path), "%s/store", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	make_dir("outside");
	make_file("outside/x", "precious");
	make_dir("outside/sub");
	make_file("outside/sub/y", "precious too");
	ck_assert_int_eq(master_open(&s, store_path, MASTER_CREATE, NULL, NULL), 0);
}

static void
teardown(void)
{
	store_dir_release(&dir);
	master_close(&s);
	rm_rf(top);
}

/* The outside directory still holds exactly what setup put there. */
static void
outside_untouched(void)
{
	struct stat st;
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/x", outside);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 8);
	snprintf(p, sizeof(p), "%s/sub/y", outside);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 12);
	ck_assert(!exists("outside/new"));
	ck_assert(!exists("outside/sub/new"));
}

START_TEST(test_open_creates_layout)
{
	struct stat st;

	ck_assert_int_ge(s.rootfd, 0);
	ck_assert_int_ge(s.metafd, 0);
	ck_assert_int_ge(s.stagingfd, 0);
	ck_assert_int_ge(s.lockfd, 0);
	ck_assert_str_eq(s.path, store_path);
	ck_assert(exists("store/.mirrorfs"));
	ck_assert(exists("store/.mirrorfs/lock"));
	ck_assert(exists("store/.mirrorfs/staging"));
	ck_assert(!exists("store/.mirrorfs/journal"));
	ck_assert_int_eq(fstat(s.stagingfd, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	/* Reopening an existing store works the same. */
	master_close(&s);
	ck_assert_int_eq(s.rootfd, -1);
	ck_assert_int_eq(master_open(&s, store_path, 0, NULL, NULL), 0);
	ck_assert_int_ge(s.stagingfd, 0);
}
END_TEST

START_TEST(test_open_missing)
{
	char p[PATH_MAX];
	struct store t;
	struct stat st;

	/* Without MASTER_CREATE a missing store is an error. */
	snprintf(p, sizeof(p), "%s/nostore", top);
	ck_assert_int_eq(master_open(&t, p, 0, NULL, NULL), -1);
	ck_assert(!exists("nostore"));
	/* MASTER_CREATE does not create parents. */
	snprintf(p, sizeof(p), "%s/no/parent", top);
	ck_assert_int_eq(master_open(&t, p, MASTER_CREATE, NULL, NULL), -1);
	ck_assert(!exists("no"));
	/* A read-only view of a missing store is empty, and changes nothing. */
	snprintf(p, sizeof(p), "%s/nostore", top);
	ck_assert_int_eq(store_open_view(&t, p), 0);
	ck_assert(!exists("nostore"));
	errno = 0;
	ck_assert_int_eq(store_lstat(&t, NULL, "a", &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	store_close(&t);
}
END_TEST

START_TEST(test_readonly_changes_nothing)
{
	char p[PATH_MAX];
	struct store t;
	struct stat st;

	make_dir("plain");
	make_file("plain/f", "x");
	snprintf(p, sizeof(p), "%s/plain", top);
	ck_assert_int_eq(store_open_view(&t, p), 0);
	ck_assert(!exists("plain/.mirrorfs"));
	ck_assert_int_eq(store_lstat(&t, NULL, "f", &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	store_close(&t);
}
END_TEST

START_TEST(test_lock)
{
	struct store t;

	/* A second writer is refused while the first holds the store. */
	ck_assert_int_eq(master_open(&t, store_path, 0, NULL, NULL), -1);
	ck_assert_int_eq(master_open(&t, store_path, MASTER_CREATE, NULL, NULL), -1);
	/* A read-only view takes no lock. */
	ck_assert_int_eq(store_open_view(&t, store_path), 0);
	store_close(&t);
	/* Once the first is closed, the store can be opened again. */
	master_close(&s);
	ck_assert_int_eq(master_open(&t, store_path, 0, NULL, NULL), 0);
	ck_assert_int_eq(master_open(&s, store_path, 0, NULL, NULL), -1);
	master_close(&t);
	ck_assert_int_eq(master_open(&s, store_path, 0, NULL, NULL), 0);
}
END_TEST

START_TEST(test_lstat_and_open_inside)
{
	struct stat st;
	const char *name;
	int fd, pfd;
	char buf[16];

	make_dir("store/a");
	make_dir("store/a/b");
	make_file("store/a/b/f", "content");
	make_link("f", "store/a/b/l");

	ck_assert_int_eq(store_lstat(&s, NULL, "a", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(store_lstat(&s, NULL, "a/b/f", &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 7);
	ck_assert_int_eq(store_lstat(&s, NULL, "a/b/l", &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	errno = 0;
	ck_assert_int_eq(store_lstat(&s, NULL, "a/b/missing", &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	errno = 0;
	ck_assert_int_eq(store_lstat(&s, NULL, "a/nodir/f", &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	errno = 0;
	ck_assert_int_eq(store_lstat(&s, NULL, "a/b/f/g", &st), -1);
	ck_assert_int_eq(errno, ENOTDIR);

	pfd = store_parent(&s, &dir, "a/b/f", &name);
	ck_assert_int_ge(pfd, 0);
	ck_assert_str_eq(name, "f");
	ck_assert_int_eq(fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	pfd = store_parent(&s, &dir, "top-level", &name);
	ck_assert_int_eq(pfd, s.rootfd);
	ck_assert_str_eq(name, "top-level");

	fd = store_open_at(&s, "a/b/f", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 7);
	ck_assert_mem_eq(buf, "content", 7);
	close(fd);
	/* A final symlink is not followed either. */
	errno = 0;
	ck_assert_int_eq(store_open_at(&s, "a/b/l", O_RDONLY), -1);
	ck_assert_int_eq(errno, ELOOP);
}
END_TEST

/*
 * Asserts errno is one of the refusals store.h documents for a path that
 * would leave the store (ENOTDIR too: the symlink is not a directory).
 */
#define REFUSED_ESCAPE() ck_assert_msg(errno == ELOOP || errno == EXDEV || \
	errno == ENOTDIR, "errno %d (%s), expected ELOOP, EXDEV or ENOTDIR", \
	errno, strerror(errno))

static void
no_escape_through(const char *link)
{
	char rel[PATH_MAX];
	const char *name;
	struct stat st;

	snprintf(rel, sizeof(rel), "%s/x", link);
	errno = 0;
	ck_assert_int_eq(store_lstat(&s, NULL, rel, &st), -1);
	REFUSED_ESCAPE();
	errno = 0;
	ck_assert_int_eq(store_parent(&s, &dir, rel, &name), -1);
	REFUSED_ESCAPE();
	errno = 0;
	ck_assert_int_eq(store_open_at(&s, rel, O_RDONLY), -1);
	REFUSED_ESCAPE();
	errno = 0;
	ck_assert_int_eq(store_open_at(&s, rel, O_RDWR | O_TRUNC), -1);
	REFUSED_ESCAPE();
	snprintf(rel, sizeof(rel), "%s/new", link);
	errno = 0;
	ck_assert_int_eq(store_open_at(&s, rel, O_WRONLY | O_CREAT), -1);
	REFUSED_ESCAPE();
	snprintf(rel, sizeof(rel), "%s/sub/y", link);
	errno = 0;
	ck_assert_int_eq(store_lstat(&s, NULL, rel, &st), -1);
	REFUSED_ESCAPE();
	/* Removing through the link fails and removes nothing outside. */
	snprintf(rel, sizeof(rel), "%s/x", link);
	ck_assert_int_eq(store_remove_tree(&s, &dir, rel), -1);
	snprintf(rel, sizeof(rel), "%s/sub", link);
	ck_assert_int_eq(store_remove_tree(&s, &dir, rel), -1);
	outside_untouched();
}

/* Asserts errno says "a symlink was in the way" (ELOOP) or "escape" (EXDEV). */
#define ESCAPE_REFUSED() ck_assert_msg(errno == ELOOP || errno == EXDEV, \
	"errno %d (%s), expected ELOOP or EXDEV", errno, strerror(errno))

START_TEST(test_escape_errno)
{
	struct stat st;
	const char *name;

	/*
	 * Regression test (was a bug, fixed): store_parent() (and so store_lstat(), store_remove_tree())
	 * fails with ENOTDIR, not ELOOP, when the last directory of the path
	 * is a symlink ("link/x"): open_beneath(..., O_PATH | O_DIRECTORY)
	 * with O_NOFOLLOW opens the symlink itself, then O_DIRECTORY fails.
	 * store.h documents ELOOP for "a symlink on the way"; with ENOTDIR a
	 * symlink in the way cannot be told from a file in the way.
	 * Nothing escapes the store: this is about the errno only.
	 */
	make_link(outside, "store/link");
	errno = 0;
	ck_assert_int_eq(store_open_at(&s, "link/x", O_RDONLY), -1);
	ESCAPE_REFUSED();
	errno = 0;
	ck_assert_int_eq(store_lstat(&s, NULL, "link/x", &st), -1);
	ESCAPE_REFUSED();
	errno = 0;
	ck_assert_int_eq(store_parent(&s, &dir, "link/x", &name), -1);
	ESCAPE_REFUSED();
}
END_TEST

START_TEST(test_no_escape_absolute_link)
{
	make_link(outside, "store/link");
	no_escape_through("link");
}
END_TEST

START_TEST(test_no_escape_relative_link)
{
	make_link("../outside", "store/link");
	no_escape_through("link");
}
END_TEST

START_TEST(test_no_escape_nested_link)
{
	make_dir("store/a");
	make_dir("store/a/b");
	make_link(outside, "store/a/b/link");
	no_escape_through("a/b/link");
	/* A link to a directory inside the store is refused just the same. */
	make_link("..", "store/a/up");
	no_escape_through("a/up/a/b");
}
END_TEST

START_TEST(test_no_escape_dotdot)
{
	struct stat st;
	const char *name;

	make_dir("store/a");
	errno = 0;
	ck_assert_int_eq(store_lstat(&s, NULL, "../outside/x", &st), -1);
	ESCAPE_REFUSED();
	errno = 0;
	ck_assert_int_eq(store_lstat(&s, NULL, "a/../../outside/x", &st), -1);
	ESCAPE_REFUSED();
	errno = 0;
	ck_assert_int_eq(store_parent(&s, &dir, "../outside/x", &name), -1);
	ESCAPE_REFUSED();
	errno = 0;
	ck_assert_int_eq(store_open_at(&s, "../outside/x", O_RDONLY), -1);
	ESCAPE_REFUSED();
	errno = 0;
	ck_assert_int_eq(store_open_at(&s, "/etc/passwd", O_RDONLY), -1);
	ESCAPE_REFUSED();
	ck_assert_int_eq(store_remove_tree(&s, &dir, "../outside/x"), -1);
	ck_assert_int_eq(store_remove_tree(&s, &dir, "a/../../outside/sub"), -1);
	outside_untouched();
}
END_TEST

START_TEST(test_symlink_itself_is_visible)
{
	struct stat st;

	/* lstat of the link itself is fine: it describes the link. */
	make_link(outside, "store/link");
	ck_assert_int_eq(store_lstat(&s, NULL, "link", &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	/* Removing the link removes the link, never its target. */
	ck_assert_int_eq(store_remove_tree(&s, &dir, "link"), 0);
	ck_assert(!exists("store/link"));
	outside_untouched();
}
END_TEST

START_TEST(test_remove_tree_nested)
{
	struct stat st;

	make_dir("store/t");
	make_dir("store/t/a");
	make_dir("store/t/a/b");
	make_dir("store/t/a/b/c");
	make_dir("store/t/empty");
	make_file("store/t/f", "1");
	make_file("store/t/a/f", "2");
	make_file("store/t/a/b/c/deep", "3");
	make_link(outside, "store/t/a/out");	/* must not be followed */
	make_link("../../outside/sub", "store/t/a/b/out2");
	make_file("store/keep", "k");
	/* Cache a directory inside the tree first. */
	ck_assert_int_eq(store_lstat(&s, NULL, "t/a/b/c/deep", &st), 0);

	ck_assert_int_eq(store_remove_tree(&s, &dir, "t"), 0);
	ck_assert(!exists("store/t"));
	ck_assert(exists("store/keep"));
	outside_untouched();
	/* The removed tree is gone for the store too, not a stale cache. */
	errno = 0;
	ck_assert_int_eq(store_lstat(&s, NULL, "t/a/b/c/deep", &st), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_remove_tree_file_and_missing)
{
	make_dir("store/d");
	make_file("store/d/f", "x");
	ck_assert_int_eq(store_remove_tree(&s, &dir, "d/f"), 0);
	ck_assert(!exists("store/d/f"));
	ck_assert(exists("store/d"));
	/* Missing paths, and paths under a missing directory, count as done. */
	ck_assert_int_eq(store_remove_tree(&s, &dir, "d/f"), 0);
	ck_assert_int_eq(store_remove_tree(&s, &dir, "nothing"), 0);
	ck_assert_int_eq(store_remove_tree(&s, &dir, "no/such/dir"), 0);
	ck_assert_int_eq(store_remove_tree(&s, &dir, "d"), 0);
	ck_assert(!exists("store/d"));
	ck_assert(exists("store/.mirrorfs/lock"));
}
END_TEST

START_TEST(test_remove_tree_recreate)
{
	struct stat st;

	/* Remove, recreate with the same name, and look again. */
	make_dir("store/r");
	make_dir("store/r/s");
	make_file("store/r/s/f", "old");
	ck_assert_int_eq(store_lstat(&s, &dir, "r/s/f", &st), 0);
	ck_assert_int_eq(store_remove_tree(&s, &dir, "r"), 0);
	make_dir("store/r");
	make_dir("store/r/s");
	make_file("store/r/s/f", "newer");
	ck_assert_int_eq(store_lstat(&s, &dir, "r/s/f", &st), 0);
	ck_assert_int_eq(st.st_size, 5);
}
END_TEST

START_TEST(test_reopen_clears_renamed)
{
	struct stat st;

	/* Old versions a mount kept in renamed/ are deleted by the next open. */
	ck_assert_int_eq(stat(store_path, &st), 0);
	ck_assert(exists("store/.mirrorfs/renamed"));
	make_file("store/.mirrorfs/renamed/AA000001", "old version");
	make_file("store/.mirrorfs/renamed/AA000002", "older version");
	make_file("store/kept", "data");
	master_close(&s);
	ck_assert(exists("store/.mirrorfs/renamed/AA000001"));
	ck_assert_int_eq(master_open(&s, store_path, 0, NULL, NULL), 0);
	ck_assert(!exists("store/.mirrorfs/renamed/AA000001"));
	ck_assert(!exists("store/.mirrorfs/renamed/AA000002"));
	ck_assert(exists("store/.mirrorfs/renamed"));
	ck_assert(exists("store/kept"));
}
END_TEST

/* Lists nothing new in outside/ after an open through planted symlinks. */
static void
meta_link_refused(const char *meta_rel, const char *target)
{
	struct store t;

	master_close(&s);
	make_link(target, meta_rel);
	ck_assert_int_eq(master_open(&t, store_path, 0, NULL, NULL), -1);
	outside_untouched();
	ck_assert(!exists("outside/lock"));
	ck_assert(!exists("outside/staging"));
	ck_assert(!exists("outside/renamed"));
	ck_assert(!exists("outside/journal.tmp"));
}

START_TEST(test_meta_symlink_dir)
{
	rm_rf(store_path);
	make_dir("store");
	meta_link_refused("store/.mirrorfs", outside);
}
END_TEST

START_TEST(test_meta_symlink_lock)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/.mirrorfs/lock", store_path);
	ck_assert_int_eq(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/lock", outside);
	meta_link_refused("store/.mirrorfs/lock", p);
}
END_TEST

START_TEST(test_meta_symlink_staging)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/.mirrorfs/staging", store_path);
	ck_assert_int_eq(rmdir(p), 0);
	meta_link_refused("store/.mirrorfs/staging", outside);
}
END_TEST

START_TEST(test_meta_symlink_journal)
{
	char p[PATH_MAX + 64];

	/* A journal that is a symlink is never read as the journal. */
	snprintf(p, sizeof(p), "%s/x", outside);
	meta_link_refused("store/.mirrorfs/journal", p);
}
END_TEST

START_TEST(test_sync)
{
	ck_assert_int_eq(store_sync(&s), 0);
}
END_TEST

/* ---- SYNC entry: master_open, master_clear_sync ---------------------- */

/* Writes STORE/.mirrorfs/SYNC naming instance, pid and host. */
static void
plant_entry(const char *instance, pid_t pid, const char *host)
{
	struct sync_entry e;
	char meta[PATH_MAX + 16];
	int fd;

	memset(&e, 0, sizeof(e));
	snprintf(e.instance, sizeof(e.instance), "%s", instance);
	e.pid = pid;
	snprintf(e.host, sizeof(e.host), "%s", host);
	snprintf(e.boot_id, sizeof(e.boot_id), "some-boot-id");
	snprintf(e.started, sizeof(e.started), "2024-05-06T07:08:09Z");
	snprintf(meta, sizeof(meta), "%s/.mirrorfs", store_path);
	fd = open(meta, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(sync_entry_write(fd, store_path, &e), 0);
	close(fd);
}

/* Reads STORE/.mirrorfs/SYNC: sync_entry_read's result. */
static int
read_entry(struct sync_entry *e)
{
	char meta[PATH_MAX + 16];
	int fd, r;

	snprintf(meta, sizeof(meta), "%s/.mirrorfs", store_path);
	fd = open(meta, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(fd, -1);
	r = sync_entry_read(fd, store_path, e);
	close(fd);
	return r;
}

static void
this_host(char *host, size_t len)
{
	char boot[64];

	sync_host(host, len, boot, sizeof(boot));
}

START_TEST(test_master_entry)
{
	struct sync_entry e;
	char host[256], want[300];

	/* The master names itself in SYNC, and removes it on a clean close. */
	this_host(host, sizeof(host));
	snprintf(want, sizeof(want), "mirrorctl@%s", host);
	ck_assert_int_eq(read_entry(&e), 1);
	ck_assert_str_eq(e.instance, want);
	ck_assert_int_eq(e.pid, getpid());
	ck_assert_str_eq(e.host, host);
	ck_assert_int_eq(s.master, 1);
	master_close(&s);
	ck_assert_int_eq(read_entry(&e), 0);

	ck_assert_int_eq(master_open(&s, store_path, 0, "mirrorfs@/mnt/x", NULL), 0);
	ck_assert_int_eq(read_entry(&e), 1);
	ck_assert_str_eq(e.instance, "mirrorfs@/mnt/x");
}
END_TEST

START_TEST(test_stale_other_host)
{
	struct sync_entry e;

	/* Another host's master may be alive (shared storage): ESTALE. */
	master_close(&s);
	plant_entry("mirrorfs@/mnt/far", 4242, "far-away-host");
	errno = 0;
	ck_assert_int_eq(master_open(&s, store_path, 0, "mine", NULL),
	    -1);
	ck_assert_int_eq(errno, ESTALE);
	ck_assert_msg(strstr(log_last(), "far-away-host") != NULL &&
	    strstr(log_last(), "clear-sync") != NULL, "message '%s'",
	    log_last());
	/* The entry stays, and so does the refusal. */
	ck_assert_int_eq(read_entry(&e), 1);
	ck_assert_str_eq(e.host, "far-away-host");
	ck_assert_int_eq(e.pid, 4242);
	ck_assert_str_eq(e.instance, "mirrorfs@/mnt/far");
	errno = 0;
	ck_assert_int_eq(master_open(&s, store_path, 0, NULL, NULL), -1);
	ck_assert_int_eq(errno, ESTALE);
	ck_assert_int_eq(read_entry(&e), 1);
	/* The lock is not left held by the refused open. */
	ck_assert_int_eq(store_open_view(&s, store_path), 0);
	store_close(&s);
}
END_TEST

START_TEST(test_stale_same_instance)
{
	struct sync_entry e;
	char host[256];

	/* Its own instance regains control, even from another host. */
	master_close(&s);
	plant_entry("mirrorfs@/mnt/mine", 4242, "far-away-host");
	ck_assert_int_eq(master_open(&s, store_path, 0, "mirrorfs@/mnt/mine", NULL), 0);
	this_host(host, sizeof(host));
	ck_assert_int_eq(read_entry(&e), 1);
	ck_assert_int_eq(e.pid, getpid());
	ck_assert_str_eq(e.host, host);
	ck_assert_str_eq(e.instance, "mirrorfs@/mnt/mine");
	master_close(&s);
	ck_assert_int_eq(read_entry(&e), 0);
}
END_TEST

START_TEST(test_stale_same_host)
{
	struct sync_entry e;
	char host[256];

	/* On its own host the free lock proves the old master dead. */
	master_close(&s);
	this_host(host, sizeof(host));
	plant_entry("mirrorfs@/mnt/other", 4242, host);
	ck_assert_int_eq(master_open(&s, store_path, 0, "mine", NULL),
	    0);
	ck_assert_msg(strstr(log_last(), "4242") != NULL, "message '%s'",
	    log_last());
	ck_assert_int_eq(read_entry(&e), 1);
	ck_assert_int_eq(e.pid, getpid());
	ck_assert_str_eq(e.instance, "mine");
	ck_assert_str_eq(e.host, host);
}
END_TEST

START_TEST(test_live_master_busy)
{
	struct store t;
	char want[64];

	/* A live master (the lock held) is EBUSY, and named. */
	errno = 0;
	ck_assert_int_eq(master_open(&t, store_path, 0, "second", NULL), -1);
	ck_assert_int_eq(errno, EBUSY);
	snprintf(want, sizeof(want), "pid %ld", (long)getpid());
	ck_assert_msg(strstr(log_last(), want) != NULL, "message '%s'",
	    log_last());
	errno = 0;
	ck_assert_int_eq(master_open(&t, store_path, MASTER_TRY, "second", NULL), -1);
	ck_assert_int_eq(errno, EBUSY);
	/* The refused open did not touch the master's entry. */
	{
		struct sync_entry e;

		ck_assert_int_eq(read_entry(&e), 1);
		ck_assert_int_eq(e.pid, getpid());
	}
}
END_TEST

START_TEST(test_clear_sync_stale)
{
	struct sync_entry e;
	int found = -1;

	master_close(&s);
	plant_entry("mirrorfs@/mnt/far", 4242, "far-away-host");
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(master_clear_sync(store_path, &e, &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_str_eq(e.host, "far-away-host");
	ck_assert_int_eq(e.pid, 4242);
	ck_assert_str_eq(e.instance, "mirrorfs@/mnt/far");
	ck_assert_int_eq(read_entry(&e), 0);
	/* Now the store opens. */
	ck_assert_int_eq(master_open(&s, store_path, 0, "mine", NULL),
	    0);
}
END_TEST

START_TEST(test_clear_sync_none)
{
	struct sync_entry e;
	char plain[PATH_MAX + 16];
	int found = -1;

	master_close(&s);
	ck_assert_int_eq(master_clear_sync(store_path, &e, &found), 0);
	ck_assert_int_eq(found, 0);
	/* A directory never used as a store: nothing to clear. */
	snprintf(plain, sizeof(plain), "%s/outside", top);
	found = -1;
	ck_assert_int_eq(master_clear_sync(plain, &e, &found), 0);
	ck_assert_int_eq(found, 0);
	ck_assert(!exists("outside/.mirrorfs"));
	/* No directory at all. */
	snprintf(plain, sizeof(plain), "%s/nowhere", top);
	ck_assert_int_eq(master_clear_sync(plain, &e, &found), -1);
}
END_TEST

START_TEST(test_clear_sync_malformed)
{
	struct sync_entry e;
	int found = -1;

	/* An unreadable entry is removed too (it can only block). */
	master_close(&s);
	make_file("store/.mirrorfs/SYNC", "no equals sign here\n");
	ck_assert_int_eq(master_clear_sync(store_path, &e, &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert(!exists("store/.mirrorfs/SYNC"));
}
END_TEST

START_TEST(test_clear_sync_busy)
{
	struct sync_entry e;
	int found = -1;

	/*
	 * s is open as master: its lock is held (flock locks belong to the
	 * open file description, so this process conflicts with itself).
	 */
	errno = 0;
	ck_assert_int_eq(master_clear_sync(store_path, &e, &found), -1);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(read_entry(&e), 1);
	ck_assert_int_eq(e.pid, getpid());
	/* The master is unharmed: it still removes its entry on close. */
	master_close(&s);
	ck_assert_int_eq(read_entry(&e), 0);
}
END_TEST

START_TEST(test_clear_sync_busy_other_process)
{
	struct sync_entry e;
	int to_child[2], to_parent[2], status, found = -1;
	char c;
	pid_t pid;

	/* The same, the master being another process. */
	master_close(&s);
	ck_assert_int_eq(pipe(to_child), 0);
	ck_assert_int_eq(pipe(to_parent), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct store t;
		int ok;

		close(to_child[1]);
		close(to_parent[0]);
		ok = master_open(&t, store_path, 0, "child", NULL) == 0;
		if (write(to_parent[1], ok ? "y" : "n", 1) != 1 ||
		    read(to_child[0], &c, 1) < 0)
			_exit(2);
		master_close(&t);
		_exit(ok ? 0 : 1);
	}
	close(to_parent[1]);
	close(to_child[0]);
	ck_assert_int_eq(read(to_parent[0], &c, 1), 1);
	ck_assert_int_eq(c, 'y');
	errno = 0;
	ck_assert_int_eq(master_clear_sync(store_path, &e, &found), -1);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_msg(strstr(log_last(), "child") != NULL, "message '%s'",
	    log_last());
	ck_assert_int_eq(read_entry(&e), 1);
	ck_assert_int_eq(e.pid, pid);
	close(to_child[1]);	/* the child closes its store and ends */
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(to_parent[0]);
	ck_assert_int_eq(read_entry(&e), 0);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *su = suite_create("store");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_creates_layout);
	tcase_add_test(tc, test_open_missing);
	tcase_add_test(tc, test_readonly_changes_nothing);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_lstat_and_open_inside);
	tcase_add_test(tc, test_no_escape_absolute_link);
	tcase_add_test(tc, test_no_escape_relative_link);
	tcase_add_test(tc, test_no_escape_nested_link);
	tcase_add_test(tc, test_no_escape_dotdot);
	tcase_add_test(tc, test_escape_errno);
	tcase_add_test(tc, test_symlink_itself_is_visible);
	tcase_add_test(tc, test_remove_tree_nested);
	tcase_add_test(tc, test_remove_tree_file_and_missing);
	tcase_add_test(tc, test_remove_tree_recreate);
	tcase_add_test(tc, test_reopen_clears_renamed);
	tcase_add_test(tc, test_meta_symlink_dir);
	tcase_add_test(tc, test_meta_symlink_lock);
	tcase_add_test(tc, test_meta_symlink_staging);
	tcase_add_test(tc, test_meta_symlink_journal);
	tcase_add_test(tc, test_sync);
	suite_add_tcase(su, tc);

	tc = tcase_create("sync_entry");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_master_entry);
	tcase_add_test(tc, test_stale_other_host);
	tcase_add_test(tc, test_stale_same_instance);
	tcase_add_test(tc, test_stale_same_host);
	tcase_add_test(tc, test_live_master_busy);
	tcase_add_test(tc, test_clear_sync_stale);
	tcase_add_test(tc, test_clear_sync_none);
	tcase_add_test(tc, test_clear_sync_malformed);
	tcase_add_test(tc, test_clear_sync_busy);
	tcase_add_test(tc, test_clear_sync_busy_other_process);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(store_suite(), base);
}
