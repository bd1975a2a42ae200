/*
 * indexfmt: the mount's index in its own file (store/index.h) against the
 * same index in LMDB, on one store: what a fresh mount pays to get at it
 * cold, what a lookup of every name costs warm, and the bytes on disk.
 *
 *   indexfmt STORE DBDIR REPS    (root: it drops the page cache)
 *
 * Prints bench/run.sh result lines: KEY WHO VALUE UNIT, tab-separated.
 * LMDB holds one record per name, keyed by the directory's record number
 * (big-endian, so a directory's names are one range of keys) and the
 * name, valued by the attributes (and a symlink's target): the layout a
 * mount serving from LMDB would read, with no copy in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store/index.h"
#include "store/store.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd == -1 || write(fd, "3", 1) != 1) {
		perror("indexfmt: drop_caches");
		exit(1);
	}
	close(fd);
}

static void
check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "indexfmt: %s: %s\n", what, mdb_strerror(rc));
		exit(1);
	}
}

/* The attributes LMDB stores for a name (as the index's record has them). */
struct value {
	uint64_t ino, size;
	int64_t atime, mtime, ctime;
	uint32_t mode, uid, gid, nlink, blocks;
};

static size_t
make_key(uint8_t *k, uint32_t dir, const char *name, size_t len)
{
	k[0] = dir >> 24;
	k[1] = dir >> 16;
	k[2] = dir >> 8;
	k[3] = dir;
	memcpy(k + 4, name, len);
	return 4 + len;
}

/* Puts every name below dir into LMDB. */
static void
put_dir(const struct index *ix, uint32_t dir, MDB_txn *txn, MDB_dbi dbi,
    size_t *n)
{
	uint8_t key[4 + 256], val[sizeof(struct value) + 4096];
	uint64_t pos = 0;
	const char *name;
	size_t len;
	uint32_t rec;

	while (index_dir_next(ix, dir, &pos, &name, &len, &rec)) {
		const struct index_rec *r = index_rec(ix, rec);
		struct stat st;
		struct value v;

		index_stat(ix, rec, &st);
		v = (struct value){ r->ino, (uint64_t)st.st_size, r->atime,
		    r->mtime, r->ctime, r->mode, r->uid, r->gid, r->nlink,
		    r->blocks };
		const char *t = index_target(ix, rec);
		size_t vl = sizeof(v), tl = t ? strlen(t) : 0;
		MDB_val k, d;

		memcpy(val, &v, sizeof(v));
		if (t != NULL) {
			memcpy(val + vl, t, tl);
			vl += tl;
		}
		k.mv_data = key;
		k.mv_size = make_key(key, dir, name, len);
		d.mv_data = val;
		d.mv_size = vl;
		check(mdb_put(txn, dbi, &k, &d, 0), "mdb_put");
		(*n)++;
		if (S_ISDIR(r->mode & S_IFMT))
			put_dir(ix, rec, txn, dbi, n);
	}
}

static MDB_env *
env_open(const char *dir, unsigned flags)
{
	MDB_env *env;

	check(mdb_env_create(&env), "mdb_env_create");
	check(mdb_env_set_mapsize(env, (size_t)4 << 30), "mdb_env_set_mapsize");
	check(mdb_env_open(env, dir, flags, 0600), dir);
	return env;
}

/* A cold walk from LMDB: every record read once (what a cold find -printf asks). */
static double
lmdb_cold_walk(const char *dir, size_t *seen)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, d;
	uint64_t sum = 0;
	double t0;

	drop_caches();
	t0 = now();
	env = env_open(dir, MDB_RDONLY | MDB_NOSUBDIR);
	check(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin");
	check(mdb_dbi_open(txn, NULL, 0, &dbi), "mdb_dbi_open");
	check(mdb_cursor_open(txn, dbi, &c), "mdb_cursor_open");
	*seen = 0;
	while (mdb_cursor_get(c, &k, &d, *seen ? MDB_NEXT : MDB_FIRST) == 0) {
		const struct value *v = d.mv_data;

		sum += v->size;
		(*seen)++;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	if (sum == 1)
		putchar(' ');	/* keep the reads */
	return now() - t0;
}

/* Every name looked up by (directory, name): through LMDB (env) or the index. */
static double
lookup_all(const struct index *ix, uint32_t dir, MDB_txn *txn, MDB_dbi dbi,
    size_t *found)
{
	uint8_t key[4 + 256];
	uint64_t pos = 0;
	const char *name;
	size_t len;
	uint32_t rec, got;
	double t0 = now();

	while (index_dir_next(ix, dir, &pos, &name, &len, &rec)) {
		if (txn != NULL) {
			MDB_val k, d;

			k.mv_data = key;
			k.mv_size = make_key(key, dir, name, len);
			if (mdb_get(txn, dbi, &k, &d) == 0)
				(*found)++;
		} else if ((got = index_lookup(ix, dir, name, len)) != INDEX_NONE) {
			struct stat st;

			index_stat(ix, got, &st);
			(*found)++;
		}
		if (S_ISDIR(index_rec(ix, rec)->mode & S_IFMT))
			lookup_all(ix, rec, txn, dbi, found);
	}
	return now() - t0;
}

int
main(int argc, char **argv)
{
	struct store s;
	struct index ix;
	char db[4096];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat ms;
	MDB_envinfo mi;
	size_t n = 0, seen, found;
	int reps;
	double t;

	if (argc != 4) {
		fprintf(stderr, "usage: indexfmt STORE DBDIR REPS\n");
		return 2;
	}
	log_init("indexfmt", LOG_WARN);
	reps = atoi(argv[3]);
	if (store_open_view(&s, argv[1]) == -1 || s.rootfd < 0)
		return 1;
	index_init(&ix);
	if (index_load(&ix, &s) == -1 && index_build(&ix, &s) == -1)
		return 1;
	snprintf(db, sizeof(db), "%s/index.mdb", argv[2]);
	unlink(db);
	env = env_open(db, MDB_NOSUBDIR | MDB_NOSYNC);
	check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	check(mdb_dbi_open(txn, NULL, 0, &dbi), "mdb_dbi_open");
	put_dir(&ix, INDEX_ROOT, txn, dbi, &n);
	check(mdb_txn_commit(txn), "mdb_txn_commit");
	check(mdb_env_sync(env, 1), "mdb_env_sync");
	mdb_env_stat(env, &ms);
	mdb_env_info(env, &mi);
	printf("idx_bytes\tlmdb\t%zu\tB\n", (size_t)(mi.me_last_pgno + 1) *
	    ms.ms_psize);
	mdb_env_close(env);
	if (index_save(&ix, &s) == -1)
		return 1;
	{
		struct stat st;

		fstatat(s.metafd, INDEX_FILE, &st, 0);
		printf("idx_bytes\tindex-file\t%lld\tB\n", (long long)st.st_size);
	}
	index_release(&ix);
	for (int r = 0; r < reps; r++) {
		/* Cold: a fresh process's way to every attribute. */
		drop_caches();
		t = now();
		index_init(&ix);
		if (index_load(&ix, &s) == -1)
			return 1;
		printf("idx_cold\tindex-file\t%.6f\ts\n", now() - t);
		t = lmdb_cold_walk(db, &seen);
		printf("idx_cold\tlmdb\t%.6f\ts\n", t);
		if (seen != n)
			fprintf(stderr, "indexfmt: LMDB walk saw %zu of %zu\n",
			    seen, n);
		/* Warm: every name looked up, and its attributes read. */
		found = 0;
		t = lookup_all(&ix, INDEX_ROOT, NULL, 0, &found);
		printf("idx_lookup\tindex-file\t%.6f\ts\n", t);
		env = env_open(db, MDB_RDONLY | MDB_NOSUBDIR);
		check(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin");
		check(mdb_dbi_open(txn, NULL, 0, &dbi), "mdb_dbi_open");
		found = 0;
		lookup_all(&ix, INDEX_ROOT, txn, dbi, &found);	/* pages in */
		found = 0;
		t = lookup_all(&ix, INDEX_ROOT, txn, dbi, &found);
		printf("idx_lookup\tlmdb\t%.6f\ts\n", t);
		mdb_txn_abort(txn);
		mdb_env_close(env);
		index_release(&ix);
	}
	store_close(&s);
	return 0;
}
