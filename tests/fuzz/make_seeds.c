/* make_seeds: writes the seed corpus of fuzz_wire (valid frames, a journal, a config). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conn.h"
#include "delta.h"
#include "store/journal.h"
#include "log.h"
#include "proto.h"
#include "seal.h"
#include "store/master.h"

static void
all_frames(struct conn *c)
{
	struct filter f;
	struct hops hops;
	struct entry e = { .path = "dir/file", .type = ENTRY_REG, .mode = 0644,
	    .size = 5, .mtime_sec = 1700000000, .mtime_nsec = 123 };
	struct entry l = { .path = "dir/link", .target = "file",
	    .type = ENTRY_LNK, .mode = 0777 };
	struct entry h = { .path = "dir/hard", .target = "dir/file",
	    .type = ENTRY_HARDLINK, .mode = 0644, .has_hash = 1 };
	static uint8_t xa[] = { 0, 1, 6, 'u', 's', 'e', 'r', '.', 'x', 0, 0, 0,
	    1, 'v' };
	struct entry d = { .path = "dir", .type = ENTRY_DIR, .mode = 0755,
	    .xattrs = xa, .xattrs_len = sizeof(xa) };
	struct entry dev = { .path = "dir/null", .type = ENTRY_CHR,
	    .mode = 0666, .rdev_major = 1, .rdev_minor = 3 };
	struct file_head fh = { .index = 1, .attr = e };
	struct item it = { .action = ITEM_SKIP, .path = "dir/x",
	    .reason = "type conflict" };
	struct result r = { .created = 3, .skipped = 1 };
	struct renamed_info ri = { "AA000001", "dir/file", 2 };
	struct sub_path sp = { JOP_PUT, 1, 2, "dir/file" };
	uint32_t need[] = { 1, 2, 5 };
	uint8_t hash[HASH_SIZE] = { 1, 2, 3 };

	filter_init(&f);
	filter_add(&f, FILTER_EXCLUDE, "*.tmp");
	filter_add(&f, FILTER_INCLUDE, "/keep/");
	proto_send_hello(c);
	proto_send_session(c, SESSION_PURGE | SESSION_CHECKSUM |
	    SESSION_XATTRS | SESSION_ACLS, &f);
	proto_send_entry(c, &d);
	proto_send_entry(c, &e);
	proto_send_entry(c, &l);
	proto_send_entry(c, &h);
	proto_send_entry(c, &dev);
	proto_send_end_manifest(c, 5, &d, MANIFEST_INCOMPLETE);
	proto_send_need(c, need, 3);
	conn_send(c, MSG_END_NEED, NULL, 0);
	proto_send_file(c, &fh);
	conn_send(c, MSG_DATA, "hello", 5);
	proto_send_hole(c, 4096);
	conn_send(c, MSG_FILE_END, hash, HASH_SIZE);
	proto_send_file_abort(c, 2, ABORT_RETRY, "changed while being read");
	conn_send(c, MSG_DONE, NULL, 0);
	proto_send_item(c, &it);
	proto_send_result(c, &r);
	proto_send_error(c, "no store 'x' here");
	proto_send_ctl(c, CTL_SESSION, 60);
	proto_send_renamed(c, &ri);
	proto_send_sub_path(c, &sp);
	proto_send_sub_verdict(c, VERDICT_VETO, "open for write");
	proto_send_sub_kept(c, 1, 2, "AA000001");
	proto_send_need_from(c, 7, 1048576, (const uint8_t *)"0123456789abcdef");
	proto_send_need_sig(c, 8, 0, "MFS1", 4);
	proto_send_daemon(c, DAEMON_SUSPEND, "app");
	proto_send_ctl(c, CTL_HOLD, 30);
	proto_send_gen(c, &(struct store_gen){ .epoch = 0x1234, .gen = 7,
	    .hold_s = 30, .broken = 1 });
	hops_init(&hops);
	hops_add(&hops, 1, HOP_OK, 1, 9, 1700000000, "mirror://b/app", NULL);
	hops_add(&hops, 2, HOP_RETRYING, 0, 0, 0, "mirror://c/app",
	    "Connection refused");
	proto_send_hops(c, &hops);
	hops_release(&hops);
	fh.offset = 2;
	proto_send_file(c, &fh);
	conn_flush(c);
	filter_release(&f);
}

/* The key of fuzz_wire.c's sealed streams, both ways. */
static const uint8_t fuzz_key[32] = "mirrorfs fuzz seal key, 32 bytes";

/* A seed file: the selector byte, then what fill writes. */
static void
stream_seed(const char *dir, const char *name, int selector, int zstd,
    int sealed)
{
	char path[4096];
	struct conn c;
	uint8_t sel = (uint8_t)selector;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1 || write(fd, &sel, 1) != 1 ||
	    conn_init(&c, -1, fd, "seed") == -1) {
		perror(path);
		exit(1);
	}
	if (sealed && conn_seal(&c, SEAL_CHACHA20_POLY1305, fuzz_key, fuzz_key) == -1)
		exit(1);
	if (zstd)
		conn_compress(&c, 3);
	all_frames(&c);
	conn_release(&c);
}

static void
journal_seed(const char *dir)
{
	char tmp[] = "/tmp/seed-store-XXXXXX", path[4096], buf[65536];
	struct journal_attr a = { .mode = 0755, .mtime_sec = 1700000000 };
	struct journal j;
	struct store s;
	ssize_t n;
	int in, out;
	uint8_t sel = 2;

	if (mkdtemp(tmp) == NULL || master_open(&s, tmp, MASTER_CREATE, NULL, NULL) == -1)
		exit(1);
	journal_init(&j);
	journal_add(&j, JOP_MKDIR, 0, "dir", NULL, NULL, 0);
	journal_add(&j, JOP_PUT, 0, "dir/file", "n1", NULL, 1);
	journal_add(&j, JOP_ATTR, JREC_OWNER, "dir", NULL, &a, 0);
	journal_add(&j, JOP_REMOVE, 0, "old", NULL, NULL, 2);
	journal_add(&j, JOP_ATTR, 0, ".", NULL, &a, 3);
	journal_add_swap(&j, "dir/was_file", "n4", 1234, 4);
	if (journal_write(&s, &j) == -1)
		exit(1);
	snprintf(path, sizeof(path), "%s/.mirrorfs/journal", tmp);
	in = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "%s/journal", dir);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in == -1 || out == -1 || write(out, &sel, 1) != 1)
		exit(1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			exit(1);
	close(in);
	close(out);
	unlinkat(s.metafd, "journal", 0);
	master_close(&s);
	journal_release(&j);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
	if (system(path) != 0)
		exit(1);
}

static int
append(void *arg, const void *p, size_t n)
{
	return buf_put(arg, p, n) == 0 ? 0 : -1;
}

static void
write_seed(const char *dir, const char *name, uint8_t sel,
    const struct buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL || fputc(sel, f) == EOF ||
	    fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0)
		exit(1);
}

/* A signature of the fuzzer's basis (mode 4) and a delta against it (mode 5). */
static void
delta_seeds(const char *dir)
{
	static uint8_t basis[65536], new[70000];
	struct delta_job *j;
	struct delta_sig *sig;
	struct buf sb, db;
	char err[256];
	int fd = memfd_create("basis", 0);

	for (size_t i = 0; i < sizeof(basis); i++)
		basis[i] = (uint8_t)(i * 31 + (i >> 8));
	memcpy(new, basis, sizeof(basis));
	memcpy(new + 30000, "a change", 8);
	buf_init(&sb);
	buf_init(&db);
	if (fd == -1 || write(fd, basis, sizeof(basis)) != sizeof(basis) ||
	    delta_signature(fd, sizeof(basis), append, &sb, err,
	    sizeof(err)) == -1)
		exit(1);
	j = delta_load_begin();
	if (j == NULL || delta_feed(j, sb.data, sb.len, 1, NULL, NULL, err,
	    sizeof(err)) != 1 || (sig = delta_load_end(j, err,
	    sizeof(err))) == NULL)
		exit(1);
	j = delta_encode_begin(sig);
	if (j == NULL || delta_feed(j, new, sizeof(new), 1, append, &db, err,
	    sizeof(err)) != 1)
		exit(1);
	write_seed(dir, "signature", 4, &sb);
	write_seed(dir, "delta", 5, &db);
	delta_free(j);
	delta_sig_free(sig);
	buf_release(&sb);
	buf_release(&db);
	close(fd);
}

static void
config_seed(const char *dir)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "w");
	if (f == NULL)
		exit(1);
	fputc(3, f);
	fputs("[daemon]\ncontrol = /run/mirrord.sock\n\n"
	    "[listen]\naddress = 0.0.0.0:7878\nkey = /etc/mirrorfs/key\n"
	    "timeout = 30\n\n[store app]\npath = /var/lib/mirrorfs/app\n"
	    "user = deploy\n\n[fileset app]\nsource = /srv/app\n"
	    "dest = /a mirror://h/app\nexclude = *.tmp\ninterval = 300\n"
	    "start = 22:00\nstop = 02:00\nwatch = yes\nquiet = 5\n", f);
	fclose(f);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	log_init("make_seeds", LOG_ERROR);
	mkdir(argv[1], 0755);
	stream_seed(argv[1], "frames", 0, 0, 0);
	stream_seed(argv[1], "frames-zstd", 1, 1, 0);
	stream_seed(argv[1], "frames-sealed", 6, 0, 1);
	stream_seed(argv[1], "frames-sealed-zstd", 7, 1, 1);
	journal_seed(argv[1]);
	config_seed(argv[1]);
	delta_seeds(argv[1]);
	return 0;
}
