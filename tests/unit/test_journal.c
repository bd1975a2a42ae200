/*
 * Unit tests for journal.h: a written journal is carried out by the next
 * master_open (roll forward), staged files without one are discarded (roll
 * back), a corrupt journal stops master_open and changes nothing, and
 * replaying is harmless. Crashes are simulated by not applying, and by
 * SIGKILL at the fault points (MIRRORFS_CRASH_AT) in a child process.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <xxhash.h>

#include "log.h"
#include "store/journal.h"
#include "store/master.h"
#include "unit.h"
#include "xattr.h"

/* Every test's directory is made in base, which main() removes at the end
 * even when a failed test skipped its teardown. */
static char base[] = "/tmp/test_journal.XXXXXX";
static char top[sizeof(base) + 16];
static char store_path[PATH_MAX];
static struct store s;
static struct journal j;

#define MTIME_FILE 1500000000
#define MTIME_DIR  1400000000
#define MTIME_TOP  1300000000
#define MTIME_LINK 1200000000


/* TOP/store/rel as an absolute path in a static buffer (two in turn). */
static const char *
sp(const char *rel)
{
	static char bufs[2][PATH_MAX + 64];
	static int k;

	k = !k;
	if (strcmp(rel, ".") == 0)
		snprintf(bufs[k], sizeof(bufs[k]), "%s", store_path);
	else
		snprintf(bufs[k], sizeof(bufs[k]), "%s/%s", store_path, rel);
	return bufs[k];
}

static void
write_path(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The contents of path, or NULL when it cannot be read. */
static char *
read_path(const char *path)
{
	static char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW);

	if (fd == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Creates staging/name holding text, as the receiver does. */
static void
stage_file(const char *name, const char *text)
{
	int fd = openat(s.stagingfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
}

/* Number of names in the store's staging directory. */
static int
staging_count(void)
{
	char p[PATH_MAX + 64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(p, sizeof(p), "%s/.mirrorfs/staging", store_path);
	d = opendir(p);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Sends stderr to /dev/null (1) or back (0), for loops of expected errors. */
static void
quiet_stderr(int quiet)
{
	static int saved = -1;
	int fd;

	fflush(stderr);
	if (quiet && saved == -1) {
		saved = dup(STDERR_FILENO);
		fd = open("/dev/null", O_WRONLY);
		ck_assert_int_ge(fd, 0);
		dup2(fd, STDERR_FILENO);
		close(fd);
	} else if (!quiet && saved != -1) {
		dup2(saved, STDERR_FILENO);
		close(saved);
		saved = -1;
	}
}

static void
setup(void)
{
	log_init("test_journal", LOG_ERROR);
	snprintf(top, sizeof(top), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(store_path, sizeof(store_path), "%s/store", top);
	ck_assert_int_eq(master_open(&s, store_path, MASTER_CREATE, NULL, NULL), 0);
	journal_init(&j);
}

static void
teardown(void)
{
	journal_release(&j);
	master_close(&s);
	rm_rf(top);
}

static struct journal_attr
attr(uint32_t mode, uint32_t uid, uint32_t gid, int64_t sec, uint32_t nsec)
{
	struct journal_attr e;

	memset(&e, 0, sizeof(e));
	e.mode = mode;
	e.uid = uid;
	e.gid = gid;
	e.mtime_sec = sec;
	e.mtime_nsec = nsec;
	return e;
}

/*
 * The store before the session: old/ (a tree to remove), keep (to get new
 * attributes), replaced (to get a new version). The journal: create
 * new/, put new/file, replace "replaced", put a symlink, set attributes,
 * remove old/, then the directories' attributes, the top's last.
 */
static void
build_scenario(void)
{
	struct journal_attr a;

	ck_assert_int_eq(mkdir(sp("old"), 0755), 0);
	ck_assert_int_eq(mkdir(sp("old/sub"), 0755), 0);
	write_path(sp("old/sub/f"), "old data");
	write_path(sp("keep"), "kept");
	write_path(sp("replaced"), "version 1");
	ck_assert_int_eq(chmod(sp("keep"), 0644), 0);

	stage_file("n1", "new file contents");
	stage_file("n2", "version 2");
	ck_assert_int_eq(symlinkat("some/target", s.stagingfd, "n3"), 0);

	ck_assert_int_eq(journal_add(&j, JOP_MKDIR, 0, "new", NULL, NULL, 0), 0);
	ck_assert_int_eq(journal_add(&j, JOP_PUT, 0, "new/file", "n1", NULL, 1),
	    0);
	ck_assert_int_eq(journal_add(&j, JOP_PUT, 0, "replaced", "n2", NULL, 2),
	    0);
	ck_assert_int_eq(journal_add(&j, JOP_PUT, 0, "new/link", "n3", NULL, 3),
	    0);
	a = attr(0600, 0, 0, MTIME_FILE, 123456789);
	ck_assert_int_eq(journal_add(&j, JOP_ATTR, 0, "new/file", NULL, &a, 4),
	    0);
	a = attr(0, 0, 0, MTIME_LINK, 0);
	ck_assert_int_eq(journal_add(&j, JOP_ATTR, JREC_LINK, "new/link", NULL,
	    &a, 5), 0);
	a = attr(0640, 4242, 4343, MTIME_FILE, 0);
	ck_assert_int_eq(journal_add(&j, JOP_ATTR, JREC_OWNER, "keep", NULL, &a,
	    6), 0);
	ck_assert_int_eq(journal_add(&j, JOP_REMOVE, 0, "old", NULL, NULL, 7),
	    0);
	a = attr(0750, 0, 0, MTIME_DIR, 0);
	ck_assert_int_eq(journal_add(&j, JOP_ATTR, 0, "new", NULL, &a, 8), 0);
	a = attr(0711, 0, 0, MTIME_TOP, 0);
	ck_assert_int_eq(journal_add(&j, JOP_ATTR, 0, ".", NULL, &a, 9), 0);
	ck_assert_uint_eq(j.n, 10);
}

/* The store after the scenario's journal was carried out. */
static void
assert_scenario_done(void)
{
	struct stat st;
	char link[64];
	ssize_t n;

	ck_assert_int_eq(lstat(sp("new"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0750);
	ck_assert_int_eq(st.st_mtim.tv_sec, MTIME_DIR);

	ck_assert_int_eq(lstat(sp("new/file"), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_mtim.tv_sec, MTIME_FILE);
	ck_assert_int_eq(st.st_mtim.tv_nsec, 123456789);
	ck_assert_ptr_nonnull(read_path(sp("new/file")));
	ck_assert_str_eq(read_path(sp("new/file")), "new file contents");

	ck_assert_str_eq(read_path(sp("replaced")), "version 2");

	ck_assert_int_eq(lstat(sp("new/link"), &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(st.st_mtim.tv_sec, MTIME_LINK);
	n = readlink(sp("new/link"), link, sizeof(link) - 1);
	ck_assert_int_eq(n, 11);
	link[n] = '\0';
	ck_assert_str_eq(link, "some/target");

	ck_assert_int_eq(lstat(sp("keep"), &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(st.st_uid, 4242);
	ck_assert_int_eq(st.st_gid, 4343);
	ck_assert_int_eq(st.st_mtim.tv_sec, MTIME_FILE);
	ck_assert_str_eq(read_path(sp("keep")), "kept");

	ck_assert(!exists(sp("old")));

	ck_assert_int_eq(lstat(sp("."), &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0711);
	ck_assert_int_eq(st.st_mtim.tv_sec, MTIME_TOP);

	ck_assert(!exists(sp(".mirrorfs/journal")));
	ck_assert(!exists(sp(".mirrorfs/journal.tmp")));
	ck_assert_int_eq(staging_count(), 0);
}

/* The store as build_scenario left it, before any record was carried out. */
static void
assert_scenario_untouched(void)
{
	ck_assert(!exists(sp("new")));
	ck_assert_str_eq(read_path(sp("replaced")), "version 1");
	ck_assert_str_eq(read_path(sp("old/sub/f")), "old data");
	ck_assert_str_eq(read_path(sp("keep")), "kept");
}

static void
reopen(int want)
{
	master_close(&s);
	ck_assert_int_eq(master_open(&s, store_path, 0, NULL, NULL), want);
}

static int apply_errors;

static void
count_error(void *arg, const struct journal_rec *r, int err)
{
	apply_errors++;
	fprintf(stderr, "journal record %s failed: %s\n", r->path,
	    strerror(err));
}

/*
 * Carries out every record of j as a commit does, counting failures
 * through on_error, then retires the journal (journal_finish's result).
 */
static int
journal_apply(struct store *st, const struct journal *jr,
    void (*on_error)(void *, const struct journal_rec *, int), void *arg)
{
	struct store_dir d = STORE_DIR_INIT;

	for (size_t i = 0; i < jr->n; i++)
		if (journal_apply_rec(st, &d, &jr->v[i]) == -1)
			on_error(arg, &jr->v[i], errno);
	store_dir_release(&d);
	return journal_finish(st);
}

START_TEST(test_roll_forward_on_reopen)
{
	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	ck_assert(exists(sp(".mirrorfs/journal")));
	ck_assert(!exists(sp(".mirrorfs/journal.tmp")));
	assert_scenario_untouched();	/* writing is not applying */
	/* Crash: the journal is never applied by this process. */
	reopen(0);
	assert_scenario_done();
}
END_TEST

START_TEST(test_apply_in_process)
{
	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	apply_errors = 0;
	ck_assert_int_eq(journal_apply(&s, &j, count_error, NULL), 0);
	ck_assert_int_eq(apply_errors, 0);
	assert_scenario_done();
}
END_TEST

START_TEST(test_roll_back_without_journal)
{
	stage_file("n1", "never committed");
	stage_file("n2", "never committed either");
	ck_assert_int_eq(symlinkat("t", s.stagingfd, "n3"), 0);
	write_path(sp("existing"), "unchanged");
	reopen(0);
	ck_assert_int_eq(staging_count(), 0);
	ck_assert_str_eq(read_path(sp("existing")), "unchanged");
	ck_assert(!exists(sp("n1")));
	ck_assert(!exists(sp(".mirrorfs/journal")));
}
END_TEST

START_TEST(test_partial_journal_discarded)
{
	char p[PATH_MAX + 64];

	/* A crash while writing journal.tmp: before the commit point. */
	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	snprintf(p, sizeof(p), "%s", sp(".mirrorfs/journal.tmp"));
	ck_assert_int_eq(rename(sp(".mirrorfs/journal"), p), 0);
	reopen(0);
	assert_scenario_untouched();
	ck_assert(!exists(sp(".mirrorfs/journal.tmp")));
	ck_assert(!exists(sp(".mirrorfs/journal")));
	ck_assert_int_eq(staging_count(), 0);
}
END_TEST

/* Replaces byte off (from the end when negative) of the journal file. */
static void
corrupt_journal(long off, int truncate_there)
{
	const char *p = sp(".mirrorfs/journal");
	struct stat st;
	unsigned char c;
	int fd;

	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	if (off < 0)
		off += st.st_size;
	ck_assert_int_lt(off, st.st_size);
	if (truncate_there) {
		ck_assert_int_eq(ftruncate(fd, off), 0);
	} else {
		ck_assert_int_eq(pread(fd, &c, 1, off), 1);
		c ^= 0x01;
		ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	}
	close(fd);
}

/* The bytes of path in a new allocation; *n is their count. */
static uint8_t *
slurp(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	*n = (size_t)st.st_size;
	p = malloc(*n + 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(read(fd, p, *n), (ssize_t)*n);
	close(fd);
	return p;
}

/* A corrupt journal stops master_open and leaves everything in place. */
static void
assert_refused_untouched(void)
{
	uint8_t *before, *after;
	size_t nb, na;

	before = slurp(sp(".mirrorfs/journal"), &nb);
	reopen(-1);
	/* A failed master_open leaves the store closed. */
	ck_assert_int_eq(s.rootfd, -1);
	assert_scenario_untouched();
	/* The journal is kept as it was, for inspection, and so is staging. */
	after = slurp(sp(".mirrorfs/journal"), &na);
	ck_assert_uint_eq(na, nb);
	ck_assert(nb == 0 || memcmp(before, after, nb) == 0);
	ck_assert(exists(sp(".mirrorfs/staging/n1")));
	ck_assert(exists(sp(".mirrorfs/staging/n2")));
	ck_assert(exists(sp(".mirrorfs/staging/n3")));
	free(before);
	free(after);
}

START_TEST(test_corrupt_byte_refused)
{
	struct stat st;

	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	ck_assert_int_eq(stat(sp(".mirrorfs/journal"), &st), 0);
	corrupt_journal(st.st_size / 2, 0);
	assert_refused_untouched();
}
END_TEST

START_TEST(test_corrupt_every_byte_refused)
{
	struct stat st;

	/* Flip each byte in turn: every one must be caught. */
	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	ck_assert_int_eq(stat(sp(".mirrorfs/journal"), &st), 0);
	master_close(&s);
	quiet_stderr(1);
	for (long off = 0; off < st.st_size; off++) {
		int rc;

		corrupt_journal(off, 0);
		rc = master_open(&s, store_path, 0, NULL, NULL);
		if (rc == 0)
			quiet_stderr(0);
		ck_assert_msg(rc == -1, "a flipped byte at %ld/%ld was accepted",
		    off, (long)st.st_size);
		corrupt_journal(off, 0);	/* flip it back */
	}
	quiet_stderr(0);
	assert_scenario_untouched();
	ck_assert_int_eq(master_open(&s, store_path, 0, NULL, NULL), 0);
	assert_scenario_done();
}
END_TEST

START_TEST(test_truncated_journal_refused)
{
	struct stat st;

	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	ck_assert_int_eq(stat(sp(".mirrorfs/journal"), &st), 0);
	corrupt_journal(-1, 1);
	assert_refused_untouched();
	corrupt_journal(st.st_size / 3, 1);
	assert_refused_untouched();
	corrupt_journal(0, 1);	/* an empty journal */
	assert_refused_untouched();
}
END_TEST

/* A journal with a valid checksum but one bad record is refused whole. */
static void
bad_record_refused(int op, const char *path, const char *staged)
{
	struct journal_attr a = attr(0644, 0, 0, 1, 0);

	build_scenario();
	ck_assert_int_eq(journal_add(&j, op, 0, path, staged, &a, 99), 0);
	ck_assert_int_eq(journal_write(&s, &j), 0);
	assert_refused_untouched();
}

START_TEST(test_bad_record_dotdot)
{
	bad_record_refused(JOP_REMOVE, "../outside", NULL);
}
END_TEST

START_TEST(test_bad_record_absolute)
{
	bad_record_refused(JOP_MKDIR, "/tmp/x", NULL);
}
END_TEST

START_TEST(test_bad_record_meta)
{
	bad_record_refused(JOP_REMOVE, ".mirrorfs/lock", NULL);
}
END_TEST

START_TEST(test_bad_record_staged_slash)
{
	bad_record_refused(JOP_PUT, "x", "../../etc");
}
END_TEST

START_TEST(test_bad_record_op)
{
	bad_record_refused(JOP_MAX + 1, "x", NULL);
}
END_TEST

START_TEST(test_bad_record_dot_not_attr)
{
	bad_record_refused(JOP_REMOVE, ".", NULL);
}
END_TEST

START_TEST(test_apply_twice_harmless)
{
	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	apply_errors = 0;
	ck_assert_int_eq(journal_apply(&s, &j, count_error, NULL), 0);
	ck_assert_int_eq(apply_errors, 0);
	assert_scenario_done();
	ck_assert_int_eq(journal_apply(&s, &j, count_error, NULL), 0);
	ck_assert_int_eq(apply_errors, 0);
	assert_scenario_done();
}
END_TEST

START_TEST(test_replay_after_apply_harmless)
{
	/*
	 * A crash after every record was carried out but before the journal
	 * was removed: recovery replays records that are all done already.
	 */
	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	apply_errors = 0;
	ck_assert_int_eq(journal_apply(&s, &j, count_error, NULL), 0);
	ck_assert_int_eq(apply_errors, 0);
	ck_assert_int_eq(journal_write(&s, &j), 0);
	reopen(0);
	assert_scenario_done();
	/* And once more, for good measure. */
	ck_assert_int_eq(journal_write(&s, &j), 0);
	reopen(0);
	assert_scenario_done();
}
END_TEST

/* Runs fn in a child with MIRRORFS_CRASH_AT=spec; asserts it was killed. */
static void
crash_child(const char *spec, int do_write)
{
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("MIRRORFS_CRASH_AT", spec, 1);
		if (do_write && journal_write(&s, &j) == -1)
			_exit(2);
		journal_apply(&s, &j, count_error, NULL);
		_exit(3);	/* not reached when the fault point fires */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "%s: child was not killed (status %#x)", spec, status);
}

START_TEST(test_crash_at_every_record)
{
	char spec[32];
	size_t n;

	/*
	 * For each k, a child carries out k records and is killed; the next
	 * master_open must finish the job.
	 */
	build_scenario();
	n = j.n;
	for (size_t k = 1; k <= n; k++) {
		if (k > 1) {
			teardown();
			setup();
			build_scenario();
		}
		ck_assert_int_eq(journal_write(&s, &j), 0);
		snprintf(spec, sizeof(spec), "commit:%zu", k);
		crash_child(spec, 0);
		reopen(0);
		assert_scenario_done();
	}
}
END_TEST

START_TEST(test_crash_during_recovery)
{
	char spec[32];
	pid_t pid;
	int status;

	/*
	 * Killed after 4 records; the recovery is killed too, after 3 of its
	 * own; the third open finishes.
	 */
	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	crash_child("commit:4", 0);
	master_close(&s);
	snprintf(spec, sizeof(spec), "commit:3");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("MIRRORFS_CRASH_AT", spec, 1);
		master_open(&s, store_path, 0, NULL, NULL);
		_exit(3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert(exists(sp(".mirrorfs/journal")));
	ck_assert_int_eq(master_open(&s, store_path, 0, NULL, NULL), 0);
	assert_scenario_done();
}
END_TEST

START_TEST(test_crash_at_commit_point)
{
	/* Killed right after the journal became durable. */
	build_scenario();
	crash_child("journal", 1);
	ck_assert(exists(sp(".mirrorfs/journal")));
	assert_scenario_untouched();
	reopen(0);
	assert_scenario_done();
}
END_TEST

START_TEST(test_crash_before_cleanup)
{
	/* Killed after every record and the sync, before the journal goes. */
	build_scenario();
	ck_assert_int_eq(journal_write(&s, &j), 0);
	crash_child("cleanup", 0);
	ck_assert(exists(sp(".mirrorfs/journal")));
	reopen(0);
	assert_scenario_done();
}
END_TEST

START_TEST(test_empty_journal)
{
	ck_assert_int_eq(journal_write(&s, &j), 0);
	ck_assert(exists(sp(".mirrorfs/journal")));
	reopen(0);
	ck_assert(!exists(sp(".mirrorfs/journal")));
}
END_TEST

START_TEST(test_add_copies_strings)
{
	char path[] = "a/b", staged[] = "n7";
	struct journal_attr a = attr(0644, 1, 2, 3, 4);

	ck_assert_int_eq(journal_add(&j, JOP_PUT, JREC_OWNER, path, staged, &a,
	    77), 0);
	strcpy(path, "zzz");
	strcpy(staged, "zz");
	ck_assert_uint_eq(j.n, 1);
	ck_assert_int_eq(j.v[0].op, JOP_PUT);
	ck_assert_int_eq(j.v[0].flags, JREC_OWNER);
	ck_assert_str_eq(j.v[0].path, "a/b");
	ck_assert_str_eq(j.v[0].staged, "n7");
	ck_assert_uint_eq(j.v[0].ref, 77);
	ck_assert_uint_eq(j.v[0].attr->mode, 0644);
	ck_assert_uint_eq(j.v[0].attr->mtime_nsec, 4);
	ck_assert_uint_eq(j.v[0].attr->uid, 1);
	ck_assert_uint_eq(j.v[0].attr->gid, 2);
	ck_assert_int_eq(j.v[0].attr->mtime_sec, 3);
	ck_assert_int_eq(journal_add(&j, JOP_REMOVE, 0, "x", NULL, NULL, 0), 0);
	ck_assert_ptr_null(j.v[1].staged);
	/* Many records survive growth. */
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(journal_add(&j, JOP_MKDIR, 0, "d", NULL, NULL,
		    (size_t)i), 0);
	ck_assert_uint_eq(j.n, 1002);
	ck_assert_uint_eq(j.v[1001].ref, 999);
	ck_assert_str_eq(j.v[0].path, "a/b");
}
END_TEST

START_TEST(test_apply_reports_failures)
{
	struct journal_attr a = attr(0644, 0, 0, 1, 0);

	/* Records that cannot be carried out are reported and skipped. */
	stage_file("n1", "data");
	ck_assert_int_eq(journal_add(&j, JOP_PUT, 0, "missing/dir/f", "n1",
	    NULL, 0), 0);
	ck_assert_int_eq(journal_add(&j, JOP_ATTR, 0, "nothing", NULL, &a, 1),
	    0);
	ck_assert_int_eq(journal_add(&j, JOP_MKDIR, 0, "made", NULL, NULL, 2),
	    0);
	ck_assert_int_eq(journal_write(&s, &j), 0);
	apply_errors = 0;
	ck_assert_int_eq(journal_apply(&s, &j, count_error, NULL), 0);
	ck_assert_int_eq(apply_errors, 2);
	ck_assert(exists(sp("made")));
	ck_assert(!exists(sp(".mirrorfs/journal")));
	ck_assert_int_eq(staging_count(), 0);
}
END_TEST

START_TEST(test_attr_never_follows_symlink)
{
	char out[PATH_MAX + 64];
	struct journal_attr a = attr(06777, 4242, 4343, 1000, 0);
	struct stat before, after;

	/*
	 * Regression test (was a bug, fixed): apply_attr() (journal.c) calls fchmodat(dirfd, name, mode, 0),
	 * which follows a symlink, while its chown and utimens use
	 * AT_SYMLINK_NOFOLLOW. When the path of an ATTR record without
	 * JREC_LINK is a symlink by the time the record runs (swapped in
	 * after the plan, or left by a crashed run), the mode of the file it
	 * points to, outside the store, is changed. store.h promises
	 * nothing outside STORE is ever touched. Expected: the outside file
	 * keeps its mode (the record fails or changes only the link).
	 */
	snprintf(out, sizeof(out), "%s/outside", top);
	write_path(out, "outside");
	ck_assert_int_eq(chmod(out, 0644), 0);
	ck_assert_int_eq(stat(out, &before), 0);
	ck_assert_int_eq(symlink(out, sp("lnk")), 0);
	ck_assert_int_eq(journal_add(&j, JOP_ATTR, JREC_OWNER, "lnk", NULL, &a,
	    0), 0);
	ck_assert_int_eq(journal_write(&s, &j), 0);
	apply_errors = 0;
	quiet_stderr(1);
	ck_assert_int_eq(journal_apply(&s, &j, count_error, NULL), 0);
	quiet_stderr(0);
	ck_assert_int_eq(stat(out, &after), 0);
	ck_assert_msg((after.st_mode & 07777) == (before.st_mode & 07777),
	    "mode of a file outside the store changed from %o to %o",
	    before.st_mode & 07777, after.st_mode & 07777);
	ck_assert_int_eq(after.st_uid, before.st_uid);
	ck_assert_int_eq(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
}
END_TEST

/* A SWAP of a file for a whole directory tree, and of a directory for a file. */
static void
build_swaps(uint64_t *ino_file, uint64_t *ino_dir)
{
	struct stat st;

	ck_assert_int_eq(mkdir(sp("tree"), 0755), 0);
	ck_assert_int_eq(mkdir(sp("tree/sub"), 0755), 0);
	write_path(sp("tree/sub/f"), "old tree");
	write_path(sp("was_file"), "old file");
	stage_file("n1", "a file replaces the tree");
	ck_assert_int_eq(mkdirat(s.stagingfd, "n2", 0700), 0);
	ck_assert_int_eq(fstatat(s.stagingfd, "n1", &st, 0), 0);
	*ino_file = st.st_ino;
	ck_assert_int_eq(fstatat(s.stagingfd, "n2", &st, 0), 0);
	*ino_dir = st.st_ino;
	ck_assert_int_eq(journal_add_swap(&j, "was_file", "n2", *ino_dir, 0), 0);
	ck_assert_int_eq(journal_add_swap(&j, "tree", "n1", *ino_file, 1), 0);
}

static void
assert_swapped(uint64_t ino_file, uint64_t ino_dir)
{
	struct stat st;

	ck_assert_int_eq(lstat(sp("tree"), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_ino, ino_file);
	ck_assert_str_eq(read_path(sp("tree")), "a file replaces the tree");
	ck_assert_int_eq(lstat(sp("was_file"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_ino, ino_dir);
	ck_assert_int_eq(staging_count(), 0);
}

START_TEST(test_swap_replaces_any_type)
{
	uint64_t fi, di;

	build_swaps(&fi, &di);
	ck_assert_int_eq(journal_write(&s, &j), 0);
	apply_errors = 0;
	ck_assert_int_eq(journal_apply(&s, &j, count_error, NULL), 0);
	ck_assert_int_eq(apply_errors, 0);
	assert_swapped(fi, di);
	/* Redone (a replay after a crash past the commit): nothing moves back. */
	ck_assert_int_eq(journal_write(&s, &j), 0);
	reopen(0);
	assert_swapped(fi, di);
}
END_TEST

/* A crash between the exchange and the removal of the old entry rolls forward. */
START_TEST(test_swap_crash_after_exchange)
{
	uint64_t fi, di;
	pid_t pid;
	int status;

	build_swaps(&fi, &di);
	ck_assert_int_eq(journal_write(&s, &j), 0);
	for (int k = 1; k <= 2; k++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct store_dir d = STORE_DIR_INIT;

			setenv("MIRRORFS_CRASH_AT", "swap", 1);
			for (size_t i = 0; i < j.n; i++)
				journal_apply_rec(&s, &d, &j.v[i]);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	}
	/* Old entries sit in staging/ now, under the staged names. */
	ck_assert_int_gt(staging_count(), 0);
	reopen(0);
	assert_swapped(fi, di);
}
END_TEST

/* A SWAP whose staged entry is gone never removes what is in place. */
START_TEST(test_swap_never_removes_the_replacement)
{
	uint64_t fi, di;
	struct store_dir d = STORE_DIR_INIT;

	build_swaps(&fi, &di);
	ck_assert_int_eq(unlinkat(s.stagingfd, "n1", 0), 0);
	ck_assert_int_eq(journal_apply_rec(&s, &d, &j.v[1]), -1);
	store_dir_release(&d);
	ck_assert_str_eq(read_path(sp("tree/sub/f")), "old tree");
}
END_TEST

/* Roll back discards staged directories too (a directory replacing a file). */
START_TEST(test_roll_back_staged_tree)
{
	ck_assert_int_eq(mkdirat(s.stagingfd, "n7", 0700), 0);
	ck_assert_int_eq(mkdirat(s.stagingfd, "n7/x", 0700), 0);
	stage_file("n8", "x");
	reopen(0);
	ck_assert_int_eq(staging_count(), 0);
}
END_TEST

/* ATTR with JREC_XATTR makes the attributes exactly the record's, twice over. */
START_TEST(test_attr_sets_xattrs)
{
	struct journal_attr a = attr(0640, 0, 0, MTIME_FILE, 0);
	struct store_dir d = STORE_DIR_INIT;
	uint8_t *blob;
	uint32_t len;
	char val[16];
	int fd;

	write_path(sp("f"), "x");
	if (setxattr(sp("f"), "user.keep", "1", 1, 0) == -1 && errno == ENOTSUP)
		return;	/* no user.* here */
	ck_assert_int_eq(setxattr(sp("f"), "user.gone", "1", 1, 0), 0);
	ck_assert_int_eq(setxattr(sp("f"), "user.keep", "2", 1, 0), 0);
	fd = open(sp("f"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(removexattr(sp("f"), "user.gone"), 0);
	ck_assert_int_eq(setxattr(sp("f"), "user.new", "v", 1, 0), 0);
	ck_assert_int_eq(xattr_read_fd(fd, XATTR_NS_ALL, &blob, &len), 0);
	/* The record wants user.keep=2 and user.new=v; the file gets them back. */
	ck_assert_int_eq(removexattr(sp("f"), "user.new"), 0);
	ck_assert_int_eq(setxattr(sp("f"), "user.gone", "1", 1, 0), 0);
	a.ns = XATTR_NS_ALL;
	a.xattrs = blob;
	a.xattrs_len = len;
	ck_assert_int_eq(journal_add(&j, JOP_ATTR, JREC_XATTR, "f", NULL, &a,
	    0), 0);
	free(blob);
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(journal_apply_rec(&s, &d, &j.v[0]), 0);
	store_dir_release(&d);
	ck_assert_int_eq(getxattr(sp("f"), "user.gone", val, sizeof(val)), -1);
	ck_assert_int_eq(getxattr(sp("f"), "user.new", val, sizeof(val)), 1);
	ck_assert_int_eq(getxattr(sp("f"), "user.keep", val, sizeof(val)), 1);
	ck_assert_int_eq(val[0], '2');
	ck_assert_int_eq(xattr_same_fd(fd, XATTR_NS_ALL, j.v[0].attr->xattrs,
	    j.v[0].attr->xattrs_len), 1);
	close(fd);
	/* And it survives the journal's own encoding. */
	ck_assert_int_eq(journal_write(&s, &j), 0);
	reopen(0);
}
END_TEST

/* A journal of another format version is refused, naming the reason. */
/* An empty journal of format version v, checksum and all (22 bytes). */
static void
raw_empty_journal(uint8_t raw[22], uint16_t v)
{
	uint64_t sum;

	memset(raw, 0, 22);
	memcpy(raw, "MRJL", 4);
	raw[4] = (uint8_t)(v >> 8);
	raw[5] = (uint8_t)v;
	sum = XXH3_64bits(raw, 14);
	for (int i = 0; i < 8; i++)
		raw[14 + i] = (uint8_t)(sum >> (56 - 8 * i));
}

START_TEST(test_other_version_refused)
{
	uint8_t raw[22];
	struct journal k;
	const char *why;

	raw_empty_journal(raw, 1);
	journal_init(&k);
	ck_assert_int_eq(journal_parse(raw, sizeof(raw), &k, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "another format version"));
	raw_empty_journal(raw, 4);
	ck_assert_int_eq(journal_parse(raw, sizeof(raw), &k, &why), -1);
}
END_TEST

/* Staged names in shards ("sS/nI", plan.h) are committed and rolled back alike. */
START_TEST(test_sharded_names_roll_forward)
{
	ck_assert_int_eq(mkdirat(s.stagingfd, "s0", 0700), 0);
	ck_assert_int_eq(mkdirat(s.stagingfd, "s3", 0700), 0);
	stage_file("s0/n1", "first shard");
	stage_file("s3/n3075", "fourth shard");
	ck_assert_int_eq(journal_add(&j, JOP_PUT, 0, "a", "s0/n1", NULL, 1), 0);
	ck_assert_int_eq(journal_add(&j, JOP_PUT, 0, "b", "s3/n3075", NULL, 2),
	    0);
	ck_assert_int_eq(journal_write(&s, &j), 0);
	reopen(0);
	ck_assert_str_eq(read_path(sp("a")), "first shard");
	ck_assert_str_eq(read_path(sp("b")), "fourth shard");
	ck_assert_int_eq(staging_count(), 0);
}
END_TEST

START_TEST(test_sharded_names_roll_back)
{
	ck_assert_int_eq(mkdirat(s.stagingfd, "s0", 0700), 0);
	ck_assert_int_eq(mkdirat(s.stagingfd, "s1", 0700), 0);
	stage_file("s0/n1", "never committed");
	stage_file("s1/n1024", "never committed either");
	ck_assert_int_eq(mkdirat(s.stagingfd, "s1/n1025", 0700), 0);
	stage_file("s1/n1025/inside", "a staged tree");
	stage_file("n7", "a flat name of journal version 2");
	reopen(0);
	ck_assert_int_eq(staging_count(), 0);
	ck_assert(!exists(sp("n7")));
}
END_TEST

START_TEST(test_bad_record_staged_deep)
{
	bad_record_refused(JOP_PUT, "x", "s0/n1/x");
}
END_TEST

START_TEST(test_bad_record_staged_shard_dotdot)
{
	bad_record_refused(JOP_PUT, "x", "../n1");
}
END_TEST

/* A journal of format version 2 (flat staged names) is still read. */
START_TEST(test_version_2_read)
{
	uint8_t raw[22];
	struct journal k;
	const char *why;

	raw_empty_journal(raw, 2);
	journal_init(&k);
	ck_assert_int_eq(journal_parse(raw, sizeof(raw), &k, &why), 0);
	ck_assert_uint_eq(k.n, 0);
	journal_release(&k);
}
END_TEST

/* A writer refuses more or fewer records than it announced: no journal. */
START_TEST(test_writer_counts)
{
	struct journal_writer w;
	struct journal_rec r = { .op = JOP_MKDIR, .path = "d" };

	ck_assert_int_eq(journal_begin(&w, &s, 1), 0);
	ck_assert_int_eq(journal_put(&w, &r), 0);
	quiet_stderr(1);
	ck_assert_int_eq(journal_put(&w, &r), -1);
	quiet_stderr(0);
	journal_abort(&w);
	ck_assert(!exists(sp(".mirrorfs/journal.tmp")));
	ck_assert_int_eq(journal_begin(&w, &s, 2), 0);
	ck_assert_int_eq(journal_put(&w, &r), 0);
	quiet_stderr(1);
	ck_assert_int_eq(journal_commit(&w), -1);
	quiet_stderr(0);
	ck_assert(!exists(sp(".mirrorfs/journal.tmp")));
	ck_assert(!exists(sp(".mirrorfs/journal")));
}
END_TEST

/* Records of many pieces (past one 64 KiB write) read back exactly. */
START_TEST(test_writer_many_pieces)
{
	struct journal k;
	char path[64];
	uint8_t *raw;
	size_t n;
	const char *why;

	for (int i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "dir/a-rather-long-name-%d", i);
		ck_assert_int_eq(journal_add(&j, JOP_MKDIR, 0, path, NULL,
		    NULL, (size_t)i), 0);
	}
	ck_assert_int_eq(journal_write(&s, &j), 0);
	raw = slurp(sp(".mirrorfs/journal"), &n);
	ck_assert_uint_gt(n, 2 * 65536);
	journal_init(&k);
	ck_assert_int_eq(journal_parse(raw, n, &k, &why), 0);
	ck_assert_uint_eq(k.n, 5000);
	ck_assert_str_eq(k.v[4999].path, "dir/a-rather-long-name-4999");
	journal_release(&k);
	free(raw);
	unlinkat(s.metafd, "journal", 0);
}
END_TEST

static Suite *
journal_suite(void)
{
	Suite *su = suite_create("journal");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_roll_forward_on_reopen);
	tcase_add_test(tc, test_apply_in_process);
	tcase_add_test(tc, test_roll_back_without_journal);
	tcase_add_test(tc, test_partial_journal_discarded);
	tcase_add_test(tc, test_corrupt_byte_refused);
	tcase_add_test(tc, test_corrupt_every_byte_refused);
	tcase_add_test(tc, test_truncated_journal_refused);
	tcase_add_test(tc, test_bad_record_dotdot);
	tcase_add_test(tc, test_bad_record_absolute);
	tcase_add_test(tc, test_bad_record_meta);
	tcase_add_test(tc, test_bad_record_staged_slash);
	tcase_add_test(tc, test_bad_record_op);
	tcase_add_test(tc, test_bad_record_dot_not_attr);
	tcase_add_test(tc, test_apply_twice_harmless);
	tcase_add_test(tc, test_replay_after_apply_harmless);
	tcase_add_test(tc, test_crash_at_every_record);
	tcase_add_test(tc, test_crash_during_recovery);
	tcase_add_test(tc, test_crash_at_commit_point);
	tcase_add_test(tc, test_crash_before_cleanup);
	tcase_add_test(tc, test_empty_journal);
	tcase_add_test(tc, test_add_copies_strings);
	tcase_add_test(tc, test_apply_reports_failures);
	tcase_add_test(tc, test_attr_never_follows_symlink);
	tcase_add_test(tc, test_swap_replaces_any_type);
	tcase_add_test(tc, test_swap_crash_after_exchange);
	tcase_add_test(tc, test_swap_never_removes_the_replacement);
	tcase_add_test(tc, test_roll_back_staged_tree);
	tcase_add_test(tc, test_attr_sets_xattrs);
	tcase_add_test(tc, test_other_version_refused);
	tcase_add_test(tc, test_sharded_names_roll_forward);
	tcase_add_test(tc, test_sharded_names_roll_back);
	tcase_add_test(tc, test_bad_record_staged_deep);
	tcase_add_test(tc, test_bad_record_staged_shard_dotdot);
	tcase_add_test(tc, test_version_2_read);
	tcase_add_test(tc, test_writer_counts);
	tcase_add_test(tc, test_writer_many_pieces);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(journal_suite(), base);
}
