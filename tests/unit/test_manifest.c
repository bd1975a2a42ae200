/*
 * Unit tests for manifest.h: a scan lists every entry of a real tree once,
 * parents first and siblings in byte order, with the attributes lstat
 * gives; hard links name their first name; what cannot be mirrored is
 * reported, never dropped silently; a partial scan lists the changed paths,
 * their directories, and what is gone.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filter.h"
#include "hash.h"
#include "log.h"
#include "manifest.h"
#include "path.h"
#include "result.h"
#include "unit.h"

/*
 * Under ASan, a SIGSEGV is ASan's to report (then exit 1): the death test
 * of the released window wants the signal itself.
 */
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "handle_segv=0";
}
#endif

static char base[] = "/tmp/test_manifest.XXXXXX";
static char top[sizeof(base) + 16];
static int rootfd = -1;
static struct manifest m;
static struct result res;
static struct filter filter;

static void
make_file(const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(p, mode), 0);
}

static void
make_dir(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	ck_assert_int_eq(mkdir(p, 0750), 0);
}

static void
setup(void)
{
	log_init("test_manifest", LOG_ERROR);
	snprintf(top, sizeof(top), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(top));
	manifest_init(&m);
	result_init(&res);
	filter_init(&filter);
	/*
	 * top/ b/ b/z b/a B a.txt link -> b/z hard (= b/a) .mirrorfs/ fifo
	 */
	make_dir("b");
	make_file("b/z", "zz", 0600);
	make_file("b/a", "first name", 0644);
	make_dir("B");
	make_file("a.txt", "hello", 0640);
	{
		char p[PATH_MAX], q[PATH_MAX];

		snprintf(p, sizeof(p), "%s/link", top);
		ck_assert_int_eq(symlink("b/z", p), 0);
		snprintf(p, sizeof(p), "%s/b/a", top);
		snprintf(q, sizeof(q), "%s/hard", top);
		ck_assert_int_eq(link(p, q), 0);
		snprintf(p, sizeof(p), "%s/fifo", top);
		ck_assert_int_eq(mkfifo(p, 0600), 0);
	}
	make_dir(".mirrorfs");
	rootfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(rootfd, 0);
}

static void
teardown(void)
{
	close(rootfd);
	manifest_release(&m);
	result_release(&res);
	filter_release(&filter);
	rm_rf(top);
}

/* Position of path in m, found by a walk (the scan keeps no index). */
static long
find(const char *path)
{
	for (size_t i = 0; i < m.n; i++)
		if (strcmp(m.v[i].path, path) == 0)
			return (long)i;
	return -1;
}

/* The reason recorded in res for path, or NULL. */
static const char *
reason_of(const char *path, int action)
{
	for (size_t i = 0; i < res.nitems; i++)
		if (strcmp(res.items[i].path, path) == 0 &&
		    res.items[i].action == action)
			return res.items[i].reason;
	return NULL;
}

START_TEST(test_scan_order_and_types)
{
	static const char *want[] = {
		"B", "a.txt", "b", "b/a", "b/z", "fifo", "hard", "link",
	};
	struct stat st;
	char p[PATH_MAX];

	ck_assert_int_eq(manifest_scan(&m, rootfd, top, &filter, 0, &res), 0);
	ck_assert_uint_eq(m.n, sizeof(want) / sizeof(want[0]));
	/* Byte order, each directory followed by what it holds. */
	for (size_t i = 0; i < m.n; i++)
		ck_assert_str_eq(m.v[i].path, want[i]);
	ck_assert_int_eq(m.v[find("B")].type, ENTRY_DIR);
	ck_assert_int_eq(m.v[find("b/z")].type, ENTRY_REG);
	ck_assert_int_eq(m.v[find("link")].type, ENTRY_LNK);
	ck_assert_str_eq(m.v[find("link")].target, "b/z");
	ck_assert_int_eq(m.v[find("fifo")].type, ENTRY_FIFO);
	/* The second name of an inode links to the first one found. */
	ck_assert_int_eq(m.v[find("b/a")].type, ENTRY_REG);
	ck_assert_int_eq(m.v[find("hard")].type, ENTRY_HARDLINK);
	ck_assert_str_eq(m.v[find("hard")].target, "b/a");
	ck_assert_uint_eq(m.v[find("hard")].link_index, (size_t)find("b/a"));
	/* Attributes are lstat's. */
	snprintf(p, sizeof(p), "%s/a.txt", top);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_uint_eq(m.v[find("a.txt")].size, 5);
	ck_assert_uint_eq(m.v[find("a.txt")].mode, 0640);
	ck_assert_uint_eq(m.v[find("a.txt")].uid, st.st_uid);
	ck_assert_int_eq(m.v[find("a.txt")].mtime_sec, st.st_mtim.tv_sec);
	ck_assert_uint_eq(m.v[find("a.txt")].mtime_nsec,
	    (uint32_t)st.st_mtim.tv_nsec);
	ck_assert_uint_eq(m.v[find("b")].mode, 0750);
	/* The top's own attributes are kept apart. */
	ck_assert_int_eq(fstat(rootfd, &st), 0);
	ck_assert_int_eq(m.top.mtime_sec, st.st_mtim.tv_sec);
	ck_assert_uint_eq(m.top.mode, st.st_mode & 07777);
}
END_TEST

START_TEST(test_scan_reports_what_it_leaves_out)
{
	ck_assert_int_eq(manifest_scan(&m, rootfd, top, &filter, 0, &res), 0);
	ck_assert_int_eq(find(".mirrorfs"), -1);
	ck_assert_ptr_nonnull(strstr(reason_of(".mirrorfs", ITEM_SKIP),
	    "reserved name"));
	ck_assert_uint_eq(res.skipped, 1);
	ck_assert_uint_eq(res.failed, 0);
}
END_TEST

START_TEST(test_scan_filter_and_hash)
{
	uint8_t h[HASH_SIZE];
	char p[PATH_MAX];
	long i;
	int fd;

	ck_assert_int_eq(filter_add(&filter, FILTER_EXCLUDE, "b/"), 0);
	ck_assert_int_eq(manifest_scan(&m, rootfd, top, &filter, 1, &res), 0);
	/* An excluded directory takes what it holds with it, unreported. */
	ck_assert_int_eq(find("b"), -1);
	ck_assert_int_eq(find("b/a"), -1);
	ck_assert_ptr_null(reason_of("b", ITEM_SKIP));
	/* "hard" is now the only name the walk sees of its inode. */
	ck_assert_int_eq(m.v[find("hard")].type, ENTRY_REG);
	i = find("a.txt");
	ck_assert(m.v[i].has_hash);
	snprintf(p, sizeof(p), "%s/a.txt", top);
	fd = open(p, O_RDONLY);
	ck_assert_int_eq(hash_fd(fd, h), 0);
	close(fd);
	ck_assert_mem_eq(m.v[i].hash, h, HASH_SIZE);
}
END_TEST

/* What manifest_scan_emit hands out, in order. */
static char emitted[16][64];
static int emitted_type[16];
static uint32_t emitted_link[16];
static char emitted_target[16][64];
static size_t nemitted;
static size_t stop_after = SIZE_MAX;

static int
on_emit(void *arg, const struct entry *e)
{
	ck_assert_ptr_eq(arg, &m);
	ck_assert_uint_lt(nemitted, 16);
	emitted_type[nemitted] = e->type;
	emitted_link[nemitted] = e->link_index;
	snprintf(emitted_target[nemitted], sizeof(emitted_target[0]), "%s",
	    e->target ? e->target : "");
	snprintf(emitted[nemitted++], sizeof(emitted[0]), "%s", e->path);
	return nemitted == stop_after ? -1 : 0;
}

START_TEST(test_scan_emit_in_order)
{
	nemitted = 0;
	ck_assert_int_eq(manifest_scan_emit(&m, rootfd, top, &filter, 0, &res,
	    on_emit, &m), 0);
	ck_assert_uint_eq(nemitted, m.n);
	for (size_t i = 0; i < m.n; i++)
		ck_assert_str_eq(emitted[i], m.v[i].path);
}
END_TEST

/*
 * A streamed walk keeps no entry, and hands out what a kept one holds:
 * the same entries in the same order, a hard link naming its first
 * name's index and path.
 */
START_TEST(test_scan_stream_keeps_nothing)
{
	struct manifest kept;
	long hard;

	manifest_init(&kept);
	ck_assert_int_eq(manifest_scan(&kept, rootfd, top, &filter, 0, &res),
	    0);
	nemitted = 0;
	/* The walk reads the directory through rootfd's offset: again. */
	ck_assert_int_eq(lseek(rootfd, 0, SEEK_SET), 0);
	ck_assert_int_eq(manifest_scan_emit(&m, rootfd, top, &filter,
	    MANIFEST_SCAN_STREAM, &res, on_emit, &m), 0);
	ck_assert_uint_eq(m.n, 0);
	ck_assert_int_eq(m.top.type, ENTRY_DIR);
	ck_assert_uint_eq(nemitted, kept.n);
	for (size_t i = 0; i < kept.n; i++) {
		ck_assert_str_eq(emitted[i], kept.v[i].path);
		ck_assert_int_eq(emitted_type[i], kept.v[i].type);
	}
	hard = manifest_find(&kept, "hard");
	ck_assert_int_ge(hard, 0);
	ck_assert_int_eq(emitted_type[hard], ENTRY_HARDLINK);
	ck_assert_uint_eq(emitted_link[hard], kept.v[hard].link_index);
	ck_assert_str_eq(emitted_target[hard], "b/a");
	manifest_release(&kept);
}
END_TEST

/* emit saying stop ends the walk there: -1, nothing more handed out. */
START_TEST(test_scan_emit_stops)
{
	nemitted = 0;
	stop_after = 2;
	ck_assert_int_eq(manifest_scan_emit(&m, rootfd, top, &filter,
	    MANIFEST_SCAN_STREAM, &res, on_emit, &m), -1);
	stop_after = SIZE_MAX;
	ck_assert_uint_eq(nemitted, 2);
}
END_TEST

START_TEST(test_scan_paths)
{
	const char *paths[] = { "b/z", "gone/file", "a.txt" };
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/b/z", top);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(manifest_scan_paths(&m, rootfd, top, paths, 3,
	    &filter, 0, &res), 0);
	/* The directories above each path come first; what is gone says so. */
	ck_assert_int_ge(find("b"), 0);
	ck_assert_int_lt(find("b"), find("b/z"));
	ck_assert_int_eq(m.v[find("b")].type, ENTRY_DIR);
	ck_assert_int_eq(m.v[find("b/z")].type, ENTRY_GONE);
	ck_assert_int_eq(m.v[find("a.txt")].type, ENTRY_REG);
	/* Of a path below a directory that is gone, the directory is gone. */
	ck_assert_int_eq(m.v[find("gone")].type, ENTRY_GONE);
	ck_assert_int_eq(find("gone/file"), -1);
	/* Nothing else of the tree is listed. */
	ck_assert_int_eq(find("b/a"), -1);
	ck_assert_int_eq(find("link"), -1);
}
END_TEST

/* A partial manifest comes in a walk's order too, not strcmp's ("b-c" < "b/z"). */
START_TEST(test_scan_paths_in_walk_order)
{
	const char *paths[] = { "b-c", "b/z", "a.txt" };

	make_file("b-c", "x", 0644);
	ck_assert_int_eq(manifest_scan_paths(&m, rootfd, top, paths, 3,
	    &filter, 0, &res), 0);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_str_eq(m.v[0].path, "a.txt");
	ck_assert_str_eq(m.v[1].path, "b");
	ck_assert_str_eq(m.v[2].path, "b/z");
	ck_assert_str_eq(m.v[3].path, "b-c");
	for (size_t i = 1; i < m.n; i++)
		ck_assert_int_lt(path_order(m.v[i - 1].path, m.v[i].path), 0);
}
END_TEST

START_TEST(test_scan_paths_hard_link_needs_whole)
{
	const char *paths[] = { "hard" };

	/* A changed file with several names: only a whole scan is exact. */
	ck_assert_int_eq(manifest_scan_paths(&m, rootfd, top, paths, 1,
	    &filter, 0, &res), 1);
}
END_TEST

/* Pushes an entry named path, a file, into mf. */
static void
push_named(struct manifest *mf, const char *path)
{
	struct entry e;

	memset(&e, 0, sizeof(e));
	e.type = ENTRY_REG;
	e.path = strdup(path);
	ck_assert_ptr_nonnull(e.path);
	ck_assert_int_eq(manifest_push(mf, &e), 0);
}

/* A reserved manifest never moves; a borrower sees its entries in place. */
START_TEST(test_reserve_and_borrow)
{
	struct manifest mf, view;
	struct entry *first;
	struct entry e;

	manifest_init(&mf);
	ck_assert_int_eq(manifest_reserve(&mf, 3), 0);
	ck_assert_int_eq(manifest_reserve(&mf, 3), -1);	/* not empty */
	manifest_borrow(&view, &mf);
	push_named(&mf, "a");
	first = &mf.v[0];
	push_named(&mf, "b");
	push_named(&mf, "c");
	ck_assert_ptr_eq(&mf.v[0], first);
	/* Full: the entry is refused and freed (no leak under ASan). */
	memset(&e, 0, sizeof(e));
	e.path = strdup("d");
	ck_assert_int_eq(manifest_push(&mf, &e), -1);
	ck_assert_int_eq(errno, ENOMEM);
	for (size_t i = 0; i < 3; i++)
		manifest_borrow_next(&view);
	ck_assert_uint_eq(view.n, 3);
	ck_assert_str_eq(view.v[2].path, "c");
	ck_assert_int_eq(manifest_find(&view, "b"), 1);
	ck_assert_int_eq(manifest_push(&view, &e), -1);
	/* The view frees nothing of the entries. */
	manifest_release(&view);
	ck_assert_str_eq(mf.v[1].path, "b");
	manifest_reset(&mf);
	ck_assert_uint_eq(mf.n, 0);
	push_named(&mf, "again");
	ck_assert_ptr_eq(&mf.v[0], first);
	manifest_release(&mf);
}
END_TEST

static int
order_cmp(const void *a, const void *b)
{
	return path_order(*(char *const *)a, *(char *const *)b);
}

/* A manifest in path_order finds every entry, and no other. */
START_TEST(test_find)
{
	struct manifest mf;
	char *paths[5000], path[32];

	manifest_init(&mf);
	ck_assert_int_eq(manifest_find(&mf, "x"), -1);
	for (int i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "d%d%s%d", i % 7, i % 3 ? "/f" :
		    "-f", i);
		ck_assert_ptr_nonnull(paths[i] = strdup(path));
	}
	qsort(paths, 5000, sizeof(*paths), order_cmp);
	for (int i = 0; i < 5000; i++)
		push_named(&mf, paths[i]);
	for (int i = 0; i < 5000; i++) {
		ck_assert_int_eq(manifest_find(&mf, paths[i]), i);
		free(paths[i]);
	}
	ck_assert_int_eq(manifest_find(&mf, "d1/f0"), -1);
	ck_assert_int_eq(manifest_find(&mf, "d0"), -1);
	ck_assert_int_eq(manifest_find(&mf, ""), -1);
	ck_assert_int_eq(manifest_find(&mf, "z"), -1);
	manifest_release(&mf);
}
END_TEST

/*
 * The released window: WIN entries, each path about 1 KiB (so a path
 * chunk of 256 KiB holds about 250 of them, and the window spans
 * several), a symlink target and an xattr blob each; WIN * 96 bytes of
 * v is well over two pages.
 */
#define WIN 3000

static void
window_path(char *buf, size_t len, int i)
{
	char fill[1001];

	memset(fill, 'a' + i % 26, sizeof(fill) - 1);
	fill[sizeof(fill) - 1] = '\0';
	/* Zero-padded: byte order is index order, as path_order wants. */
	snprintf(buf, len, "d/%06d-%s", i, fill);
}

static void
window_fill(struct manifest *mf)
{
	char path[1100], text[32];
	struct entry e;

	manifest_init(mf);
	ck_assert_int_eq(manifest_reserve(mf, WIN), 0);
	for (int i = 0; i < WIN; i++) {
		memset(&e, 0, sizeof(e));
		e.type = ENTRY_LNK;
		window_path(path, sizeof(path), i);
		ck_assert_ptr_nonnull(e.path = strdup(path));
		snprintf(text, sizeof(text), "target-%d", i);
		ck_assert_ptr_nonnull(e.target = strdup(text));
		snprintf(text, sizeof(text), "xattr-%d", i);
		e.xattrs_len = (uint32_t)strlen(text) + 1;
		ck_assert_ptr_nonnull(e.xattrs = (uint8_t *)strdup(text));
		e.size = (uint64_t)i;
		ck_assert_int_eq(manifest_push(mf, &e), 0);
	}
}

/* Is the page of p mapped at all (mincore fails with ENOMEM if not)? */
static int
is_mapped(const void *p)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char vec;

	return mincore((void *)((uintptr_t)p & ~(uintptr_t)(page - 1)), page,
	    &vec) == 0;
}

/* Can the kernel read the byte at p (a PROT_NONE page gives EFAULT)? */
static int
is_readable(const void *p)
{
	int fds[2], ok;

	ck_assert_int_eq(pipe(fds), 0);
	ok = write(fds[1], p, 1) == 1;
	close(fds[0]);
	close(fds[1]);
	return ok;
}

static void
window_check_kept(const struct manifest *mf, int from)
{
	char path[1100], text[32];

	for (int i = from; i < WIN; i += 97) {
		window_path(path, sizeof(path), i);
		ck_assert_int_eq(manifest_find(mf, path), i);
		ck_assert_str_eq(mf->v[i].path, path);
		snprintf(text, sizeof(text), "target-%d", i);
		ck_assert_str_eq(mf->v[i].target, text);
		snprintf(text, sizeof(text), "xattr-%d", i);
		ck_assert_uint_eq(mf->v[i].xattrs_len, strlen(text) + 1);
		ck_assert_str_eq((const char *)mf->v[i].xattrs, text);
		ck_assert_uint_eq(mf->v[i].size, (uint64_t)i);
	}
	/* The last one too, and the first kept. */
	window_path(path, sizeof(path), WIN - 1);
	ck_assert_int_eq(manifest_find(mf, path), WIN - 1);
	window_path(path, sizeof(path), from);
	ck_assert_int_eq(manifest_find(mf, path), from);
}

/*
 * Released entries are gone (found nowhere, their path chunks unmapped,
 * the whole pages of v given back and unreadable); the kept ones are
 * whole, at their index. Twice, and below an earlier mark: nothing.
 */
START_TEST(test_release_below)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t per_page = page / sizeof(struct entry);
	struct manifest mf;
	char path[1100];
	const char *p0, *p1000, *p1999, *p2000;
	int mark1 = 1000, mark2 = 2000;

	ck_assert_uint_gt(WIN * sizeof(struct entry), 2 * page);
	window_fill(&mf);
	ck_assert_uint_eq(mf.base, 0);
	ck_assert_uint_eq(mf.released, 0);
	p0 = mf.v[0].path;
	p1000 = mf.v[mark1].path;
	p1999 = mf.v[mark2 - 1].path;
	p2000 = mf.v[mark2].path;
	ck_assert(is_mapped(p0) && is_mapped(p1999));

	manifest_release_below(&mf, (size_t)mark1);
	ck_assert_uint_eq(mf.base, (size_t)mark1);
	/* The whole pages of v below entry 1000, no more. */
	ck_assert_uint_eq(mf.released,
	    ((uintptr_t)&mf.v[mark1] - (uintptr_t)mf.v) & ~(page - 1));
	ck_assert_uint_ge(mf.released / sizeof(struct entry) + per_page,
	    (size_t)mark1);
	ck_assert(!is_readable(&mf.v[0]));
	ck_assert(!is_readable((const char *)mf.v + mf.released - 1));
	ck_assert(is_readable((const char *)mf.v + mf.released));
	/* Entry 0's path chunk is unmapped; entry 1000's is not. */
	ck_assert(!is_mapped(p0));
	ck_assert(is_mapped(p1000));
	ck_assert_str_eq(p1000, mf.v[mark1].path);
	for (int i = 0; i < mark1; i += 111) {
		window_path(path, sizeof(path), i);
		ck_assert_int_eq(manifest_find(&mf, path), -1);
	}
	window_path(path, sizeof(path), mark1 - 1);
	ck_assert_int_eq(manifest_find(&mf, path), -1);
	window_check_kept(&mf, mark1);

	/* Again, further: more chunks go. */
	manifest_release_below(&mf, (size_t)mark2);
	ck_assert_uint_eq(mf.base, (size_t)mark2);
	ck_assert(!is_mapped(p1000));
	ck_assert(is_mapped(p2000));
	ck_assert(!is_readable(&mf.v[mark1]));
	window_path(path, sizeof(path), mark1);
	ck_assert_int_eq(manifest_find(&mf, path), -1);
	window_path(path, sizeof(path), mark2 - 1);
	ck_assert_int_eq(manifest_find(&mf, path), -1);
	window_check_kept(&mf, mark2);

	/* Below an earlier mark, and the same mark: nothing changes. */
	manifest_release_below(&mf, (size_t)mark1);
	manifest_release_below(&mf, (size_t)mark2);
	ck_assert_uint_eq(mf.base, (size_t)mark2);
	ck_assert(is_mapped(p2000));
	window_check_kept(&mf, mark2);

	/* Past the end: every entry released, none found, no leak. */
	manifest_release_below(&mf, WIN + 5);
	ck_assert_uint_eq(mf.base, WIN);
	ck_assert(!is_mapped(p2000));
	window_path(path, sizeof(path), WIN - 1);
	ck_assert_int_eq(manifest_find(&mf, path), -1);
	manifest_release(&mf);
}
END_TEST

/* A manifest that is not reserved keeps everything. */
START_TEST(test_release_below_unreserved)
{
	struct manifest mf;

	manifest_init(&mf);
	push_named(&mf, "a");
	push_named(&mf, "b");
	manifest_release_below(&mf, 2);
	ck_assert_uint_eq(mf.base, 0);
	ck_assert_int_eq(manifest_find(&mf, "a"), 0);
	ck_assert_str_eq(mf.v[1].path, "b");
	manifest_release(&mf);
}
END_TEST

/* A reader of a released entry's page crashes: it never reads zeros. */
START_TEST(test_release_below_read_crashes)
{
	struct manifest mf;
	volatile uint64_t size;

	window_fill(&mf);
	manifest_release_below(&mf, 2000);
	size = mf.v[3].size;
	(void)size;
	/* Not reached. */
	manifest_release(&mf);
}
END_TEST

static Suite *
manifest_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scan_order_and_types);
	tcase_add_test(tc, test_scan_reports_what_it_leaves_out);
	tcase_add_test(tc, test_scan_filter_and_hash);
	tcase_add_test(tc, test_scan_emit_in_order);
	tcase_add_test(tc, test_scan_stream_keeps_nothing);
	tcase_add_test(tc, test_scan_emit_stops);
	tcase_add_test(tc, test_scan_paths);
	tcase_add_test(tc, test_scan_paths_in_walk_order);
	tcase_add_test(tc, test_scan_paths_hard_link_needs_whole);
	tcase_add_test(tc, test_reserve_and_borrow);
	tcase_add_test(tc, test_find);
	suite_add_tcase(s, tc);
	tc = tcase_create("window");
	tcase_add_test(tc, test_release_below);
	tcase_add_test(tc, test_release_below_unreserved);
	tcase_add_test_raise_signal(tc, test_release_below_read_crashes, SIGSEGV);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(manifest_suite(), base);
}
