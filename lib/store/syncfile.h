/* syncfile: STORE/.mirrorfs/SYNC, the entry naming the master of a store. */
#ifndef MIRRORFS_SYNCFILE_H
#define MIRRORFS_SYNCFILE_H

#include <stddef.h>
#include <sys/types.h>

#define SYNC_NAME "SYNC"

/*
 * The master of a store writes its entry as key=value lines and holds
 * .mirrorfs/lock for as long as it lives; a clean stop removes the entry.
 * An entry that outlives its lock is stale (the master ended abnormally).
 */
struct sync_entry {
	char instance[512];	/* who may regain control at once */
	pid_t pid;
	char host[256];
	char boot_id[64];
	char started[32];	/* UTC, ISO 8601 */
};

/* This process's entry as master under the name instance. */
void sync_entry_self(struct sync_entry *e, const char *instance);
/* This machine's host name and boot id (from /proc). */
void sync_host(char *host, size_t hostlen, char *boot, size_t bootlen);

/*
 * Reads metafd/SYNC. Returns 1 with e filled, 0 when there is no entry,
 * -1 when the file is unreadable or malformed (logged as FILE:LINE).
 */
int sync_entry_read(int metafd, const char *store_path, struct sync_entry *e);
/* Writes the entry durably (SYNC.tmp, fsync, rename). -1 logged. */
int sync_entry_write(int metafd, const char *store_path,
    const struct sync_entry *e);
/* Removes the entry. -1 logged (ENOENT is fine). */
int sync_entry_remove(int metafd, const char *store_path);
/* "instance X (pid P on host H since T)" into buf. */
void sync_entry_describe(const struct sync_entry *e, char *buf, size_t len);

#endif
