/* mount: the state one mirrorfs process shares between its parts. */
#ifndef MIRRORFS_MOUNT_H
#define MIRRORFS_MOUNT_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>

#include "conn.h"
#include "hold.h"
#include "node.h"
#include "store/index.h"
#include "store/store.h"

/* A subscribed slave mount, as the master sees it. */
struct slave {
	struct conn conn;
	/*
	 * Its verdicts taken on the batch being checked: each slave answers
	 * the same questions, in order (owner.c, next_question).
	 */
	size_t answered;
	struct slave *next;
};

/*
 * When a listing carries each entry's attributes (READDIRPLUS): always,
 * never, or (auto, the default) while programs stat what they list,
 * which the LOOKUP of a listed file shows (ops.c).
 */
enum { RDPLUS_AUTO, RDPLUS_ALWAYS, RDPLUS_NEVER };

struct mount {
	struct store st;	/* the master's store; a slave's read-only view */
	char *store_path;
	char *mountpoint;
	char instance[512];	/* this process's name in the SYNC file */
	int renamedfd;		/* .mirrorfs/renamed, open for our whole life */
	struct fuse_session *se;
	/*
	 * What the mount serves: the store's names and attributes. Requests
	 * read it under ixlock shared; commits (view_changed), rw operations
	 * and forgets that free a record change it under ixlock exclusive,
	 * never while waiting on the kernel (an invalidation comes after).
	 */
	struct index ix;
	pthread_rwlock_t ixlock;
	int indexed;		/* ix is filled (the mount may serve) */
	int log_level;		/* as asked; WARN on the terminal before detaching */
	int index_loaded;	/* ... from its saved file (else built from the tree) */
	int ix_suspect;		/* a change could not be indexed: never save ix (atomic) */
	struct nodes nodes;	/* files open through this mount */
	/*
	 * A commit holds view for writing from before its first rename
	 * until the kernel has dropped every name it changed; opens hold it
	 * for reading, so no open sees part of a session. The kernel holds
	 * no directory lock while it sends OPEN, so the invalidations made
	 * under view cannot deadlock with a waiting open.
	 */
	pthread_rwlock_t view;
	/*
	 * Changes to names through an rw mount hold ns for reading; a commit
	 * holds it for writing while it renames and while the index takes
	 * each batch of its changes (the kernel holds the parent directory's
	 * lock while it sends those requests, so ns is released for every
	 * invalidation). Lookups take no lock.
	 */
	pthread_rwlock_t ns;
	uint64_t generation;	/* commits seen; written under view, read atomically */
	/*
	 * Master only: readers of the store as a source hold its commits
	 * (owner.c waits for them before it freezes the view); commits that
	 * changed something, counted in GEN (serve.c; atomic).
	 */
	struct holds holds;
	uint64_t commits;
	uint32_t renamed_seq;	/* last AAnnnnnn; protected by nodes.lock */
	pthread_mutex_t session_lock;	/* one session at a time uses st */
	struct slave *slaves;	/* master only; protected by session_lock */
	struct server *server;	/* master only: the control socket */
	struct owner_commit *commit;	/* master only: the commit in progress */
	/* Master only, protected by nodes.lock: every kept old version made. */
	struct kept_info {
		char name[16];
		char *path;
		dev_t dev;
		ino_t ino;
	} *kept;
	size_t nkept;
	int master;		/* this process is the store's master */
	int failed;		/* lost its master: refuse to serve (atomic) */
	pthread_t main_thread;	/* runs the FUSE loop; signalled to stop it */
	int rw;			/* writes through the mount allowed */
	int renameopen;		/* replace files open for read (default) */
	int readdirplus;	/* RDPLUS_*: when listings carry attributes */
	uint64_t attrs_wanted;	/* RDPLUS_AUTO: until when (ms, monotonic; atomic) */
	double timeout;		/* entry and attribute cache, seconds */
};

/* The FUSE operations (ops.c). */
extern const struct fuse_lowlevel_ops mirrorfs_ops;

/* Closes an open handle of n; at the last one, lets go of its kept old version. */
void mount_node_closed(struct mount *m, struct node *n, int was_write);

/*
 * Kept old versions are shared by every mount of the store: each mount
 * that has one open holds a shared flock on renamed/NAME; whoever can take
 * the exclusive lock after letting go of its own is the last, and removes
 * it. mount_reap tries that for name (0 removed or gone, -1 still held).
 */
int mount_reap(struct mount *m, const char *name);
/* Makes n hold renamed/name (shared flock). Caller holds nodes.lock. */
void mount_hold_kept(struct mount *m, struct node *n, const char *name,
    const char *path);

/*
 * Fills m->ix: a master loads the index its last clean stop saved and
 * drops the file (durably, before anything changes), or builds it from
 * the tree; a slave builds it (index.c). -1 logged.
 */
int mount_index_open(struct mount *m);
/* A master's clean stop: saves m->ix for the next start. */
void mount_index_save(struct mount *m);
/*
 * Makes the index say what the store says at path (an rw operation's
 * change; the caller holds ns), under ixlock. -1 logged.
 */
int mount_index_refresh(struct mount *m, const char *path);

/*
 * A commit's view of the mount (view.c), in three steps, from the
 * committing (or following) thread:
 *   view_freeze   no open may start and no name change through an rw
 *                 mount: what follows is one generation's change
 *   view_changed  the index takes the n changed paths from the store
 *                 (a replaced or removed file that is open is marked
 *                 superseded), names may change while the kernel
 *                 forgets those paths (attrs[i]: path's own attributes
 *                 changed in place) and the attributes of their
 *                 directories; once per batch of a commit's changes,
 *                 after all of them were carried out
 *   view_thaw     names may change again, opens go on, in the new
 *                 generation
 */
void view_freeze(struct mount *m);
void view_changed(struct mount *m, size_t n, const char *const *paths,
    const int *attrs);
void view_thaw(struct mount *m);
/* Drops the kernel's cached names of n paths (view_changed's second half). */
void mount_invalidate(struct mount *m, size_t n, const char *const *paths,
    const int *attrs);

#endif
