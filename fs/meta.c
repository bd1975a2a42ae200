/* meta: the mount's index of its store: loaded or built at start, saved at a clean stop, refreshed by rw operations. */
#include "mount.h"

#include <errno.h>
#include <unistd.h>

#include "log.h"
#include "path.h"

int
mount_index_open(struct mount *m)
{
	index_init(&m->ix);
	if (m->master) {
		if (index_load(&m->ix, &m->st) == 0) {
			/*
			 * From now on the store changes through us alone, and
			 * only our memory follows it: a crash must find no
			 * saved index, so the file goes before any change.
			 */
			if (index_drop(m->st.metafd) == -1 ||
			    fsync(m->st.metafd) == -1) {
				log_err("%s/%s: dropping the saved index",
				    m->store_path, PATH_META);
				index_release(&m->ix);
				return -1;
			}
			log_info("%s: index loaded (%ju names, %zu KiB)",
			    m->store_path, (uintmax_t)m->ix.entries,
			    index_memory(&m->ix) / 1024);
			m->indexed = 1;
			m->index_loaded = 1;
			return 0;
		}
		if (errno == ENOENT)
			log_info("%s: no saved index (first mount, or the last "
			    "one did not stop cleanly): indexing the tree",
			    m->store_path);
	}
	if (m->st.rootfd < 0) {
		log_errx("%s: the store is not made yet", m->store_path);
		return -1;
	}
	if (index_build(&m->ix, &m->st) == -1)
		return -1;
	m->indexed = 1;
	return 0;
}

void
mount_index_save(struct mount *m)
{
	if (!m->master || !m->indexed ||
	    __atomic_load_n(&m->failed, __ATOMIC_SEQ_CST))
		return;
	if (__atomic_load_n(&m->ix_suspect, __ATOMIC_SEQ_CST)) {
		log_warnx("%s: index not saved (a change could not be indexed); "
		    "the next start builds it from the tree", m->store_path);
		return;
	}
	pthread_rwlock_wrlock(&m->ixlock);
	if (index_save(&m->ix, &m->st) == 0)
		log_debug("%s: index saved (%ju names)", m->store_path,
		    (uintmax_t)m->ix.entries);
	pthread_rwlock_unlock(&m->ixlock);
}

int
mount_index_refresh(struct mount *m, const char *path)
{
	struct store_dir d = STORE_DIR_INIT;
	int rc;

	pthread_rwlock_wrlock(&m->ixlock);
	rc = index_refresh(&m->ix, &m->st, &d, path, NULL);
	pthread_rwlock_unlock(&m->ixlock);
	if (rc == -1)
		__atomic_store_n(&m->ix_suspect, 1, __ATOMIC_SEQ_CST);
	store_dir_release(&d);
	return rc;
}
