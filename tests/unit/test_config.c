/*
 * Unit tests for config.h: mirrord.conf is loaded into a struct config, and
 * every mistake in it is refused with -1 and a "FILE:LINE: what" message
 * (read back with log_last(), and once from stderr itself).
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
#include <unistd.h>

#include "config.h"
#include "sender.h"
#include "log.h"
#include "unit.h"

/* Every test's directory is made in base, which main() removes at the end
 * even when a failed test skipped its teardown. */
static char base[] = "/tmp/test_config.XXXXXX";
static char top[sizeof(base) + 16];
static char conf[PATH_MAX];
static struct config cfg;


/* Writes text as TOP/mirrord.conf (the file config_load reads). */
static void
write_conf(const char *text)
{
	FILE *f = fopen(conf, "w");

	ck_assert_msg(f != NULL, "%s: %s", conf, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void
setup(void)
{
	/* Silent: log_last() still records every error. */
	log_init("test_config", LOG_SILENT);
	snprintf(top, sizeof(top), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(conf, sizeof(conf), "%s/mirrord.conf", top);
	memset(&cfg, 0x5a, sizeof(cfg));	/* config_load must zero it */
}

static void
teardown(void)
{
	rm_rf(top);
}

/* A config released on failure is all zeros (no dangling pointers). */
static void
assert_released(void)
{
	ck_assert_ptr_null(cfg.file);
	ck_assert_ptr_null(cfg.address);
	ck_assert_ptr_null(cfg.key);
	ck_assert_ptr_null(cfg.stores);
	ck_assert_uint_eq(cfg.nstores, 0);
	ck_assert_int_eq(cfg.listen, 0);
	ck_assert_int_eq(cfg.timeout, 0);
}

/*
 * Loads text, which must be refused: -1, the config released, and a message
 * starting "CONF:line: " that contains what (when not NULL).
 */
static void
refused_at(const char *text, unsigned line, const char *what)
{
	char want[PATH_MAX + 32];
	const char *got;

	write_conf(text);
	ck_assert_int_eq(config_load(&cfg, conf), -1);
	assert_released();
	got = log_last();
	snprintf(want, sizeof(want), "%s:%u: ", conf, line);
	ck_assert_msg(strncmp(got, want, strlen(want)) == 0,
	    "message '%s' does not start with '%s' (for:\n%s)", got, want,
	    text);
	if (what != NULL)
		ck_assert_msg(strstr(got, what) != NULL,
		    "message '%s' does not mention '%s'", got, what);
}

static const char valid[] =
	"# mirrord configuration\n"
	"[listen]\n"
	"address = 0.0.0.0:7878\n"
	"key = /etc/mirrorfs/key\n"
	"timeout = 90\n"
	"\n"
	"; stores\n"
	"[store photos]\n"
	"path = /srv/photos\n"
	"user = alice\n"
	"\n"
	"[store docs]\n"
	"path = /srv/docs\n"
	"\n"
	"[store backup.2]\n"
	"user = bob\n"
	"path = /srv/backup 2\n";

START_TEST(test_valid)
{
	const struct store_conf *st;

	write_conf(valid);
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_str_eq(cfg.file, conf);
	ck_assert_int_eq(cfg.listen, 1);
	ck_assert_str_eq(cfg.address, "0.0.0.0:7878");
	ck_assert_str_eq(cfg.key, "/etc/mirrorfs/key");
	ck_assert_int_eq(cfg.timeout, 90);
	ck_assert_uint_eq(cfg.nstores, 3);

	st = config_store(&cfg, "photos");
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->name, "photos");
	ck_assert_str_eq(st->path, "/srv/photos");
	ck_assert_str_eq(st->user, "alice");

	st = config_store(&cfg, "docs");
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->path, "/srv/docs");
	ck_assert_ptr_null(st->user);

	st = config_store(&cfg, "backup.2");
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->path, "/srv/backup 2");
	ck_assert_str_eq(st->user, "bob");

	ck_assert_ptr_null(config_store(&cfg, "nope"));
	ck_assert_ptr_null(config_store(&cfg, ""));
	ck_assert_ptr_null(config_store(&cfg, "Photos"));
	ck_assert_ptr_null(config_store(&cfg, "photo"));
	config_release(&cfg);
	assert_released();
}
END_TEST

START_TEST(test_valid_stores_only)
{
	/* No [listen]: a daemon serving only --serve (ssh) sessions. */
	write_conf("[store a]\npath=/a\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.listen, 0);
	ck_assert_ptr_null(cfg.address);
	ck_assert_ptr_null(cfg.key);
	ck_assert_uint_eq(cfg.nstores, 1);
	ck_assert_str_eq(config_store(&cfg, "a")->path, "/a");
	config_release(&cfg);
}
END_TEST

START_TEST(test_valid_empty)
{
	write_conf("# nothing yet\n\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.listen, 0);
	ck_assert_uint_eq(cfg.nstores, 0);
	ck_assert_ptr_null(config_store(&cfg, "a"));
	config_release(&cfg);
}
END_TEST

START_TEST(test_missing_file)
{
	ck_assert_int_eq(config_load(&cfg, conf), -1);
	assert_released();
	ck_assert_msg(strstr(log_last(), conf) != NULL, "message '%s'",
	    log_last());
}
END_TEST

START_TEST(test_unknown_section)
{
	refused_at("[listen]\naddress = h:1\nkey = /k\n\n[stores x]\n"
	    "path = /x\n", 5, "[stores x]");
	refused_at("[store a]\npath = /a\n[Listen]\naddress = h:1\n", 3,
	    "Listen");
	/* Without a name, "store" is not a store section. */
	refused_at("[store]\npath = /a\n", 1, "store");
}
END_TEST

START_TEST(test_unknown_empty_section)
{
	/* inih reports nothing for a section without keys. */
	refused_at("[store a]\npath = /a\n\n[bogus]\n", 4, "bogus");
	refused_at("[bogus]\n[store a]\npath = /a\n", 1, "bogus");
	refused_at("[store a]\npath = /a\n[]\n", 3, "unknown section");
}
END_TEST

/* forward = makes a file set of its own: the store read, each hop a dest. */
START_TEST(test_forward)
{
	const struct fileset_conf *fs;

	write_conf("[listen]\naddress = h:1\nkey = /k\n\n"
	    "[store app]\npath = /srv/app\nuser = deploy\n"
	    "forward = mirror://b/app, mirror://c/app\nforward = /local\n"
	    "forward_retry_max = 9\n\n[store plain]\npath = /p\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_uint_eq(cfg.nfilesets, 1);
	fs = config_fileset(&cfg, "forward:app");
	ck_assert_ptr_nonnull(fs);
	ck_assert_str_eq(fs->forward_of, "app");
	ck_assert_str_eq(fs->source, "/srv/app");
	ck_assert_uint_eq(fs->ndests, 3);
	ck_assert_str_eq(fs->dests[0], "mirror://b/app");
	ck_assert_str_eq(fs->dests[1], "mirror://c/app");
	ck_assert_str_eq(fs->dests[2], "/local");
	ck_assert_str_eq(fs->user, "deploy");
	ck_assert_str_eq(fs->key, "/k");	/* [listen] key by default */
	ck_assert_int_eq(fs->watch, 1);
	ck_assert_int_eq(fs->purge_dirs, 1);
	ck_assert_int_eq(fs->retry_min, CONFIG_RETRY_MIN);
	ck_assert_int_eq(fs->retry_max, 9);
	ck_assert_ptr_null(config_fileset(&cfg, "forward:plain"));
	config_release(&cfg);

	write_conf("[store a]\npath = /a\nforward = /b\nforward_key = /fk\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_str_eq(config_fileset(&cfg, "forward:a")->key, "/fk");
	ck_assert_ptr_null(config_fileset(&cfg, "forward:a")->user);
	ck_assert_int_eq(config_store(&cfg, "a")->forward_after_commit, 0);
	config_release(&cfg);

	write_conf("[store a]\npath = /a\nforward = /b\nforward_stream = no\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(config_store(&cfg, "a")->forward_after_commit, 1);
	config_release(&cfg);

	refused_at("[store a]\npath = /a\nforward =\n", 3, "forward has no "
	    "value");
	refused_at("[store a]\npath = /a\nforward_key = /k\n", 1,
	    "forward_key but no forward");
	refused_at("[store a]\npath = /a\nforward_stream = yes\n", 1,
	    "forward_stream but no forward");
	refused_at("[store a]\npath = /a\nforward = /b\nforward_stream = "
	    "later\n", 4, "forward_stream = 'later': not yes or no");
	refused_at("[store a]\npath = /a\nforward = /b\n"
	    "forward_retry_min = 5\nforward_retry_max = 2\n", 1,
	    "forward_retry_max 2 below forward_retry_min 5");
	refused_at("[fileset forward:a]\nsource = /s\ndest = /d\n"
	    "[store a]\npath = /a\nforward = /b\n", 1, "the name of the "
	    "file set that [store a] forwards with");
}
END_TEST

START_TEST(test_unknown_key_listen)
{
	refused_at("[listen]\naddress = h:1\nkey = /k\nport = 7878\n", 4,
	    "port");
}
END_TEST

START_TEST(test_unknown_key_store)
{
	refused_at("[store a]\npath = /a\nowner = alice\n", 3, "owner");
	refused_at("[store a]\npath = /a\n[store b]\nPath = /b\n", 4, "Path");
}
END_TEST

START_TEST(test_key_given_twice)
{
	refused_at("[listen]\naddress = h:1\nkey = /k\naddress = h:2\n", 4,
	    "address");
	refused_at("[listen]\nkey = /k\naddress = h:1\nkey = /k2\n", 4, "key");
	refused_at("[store a]\npath = /a\nuser = x\nuser = y\n", 4, "user");
	refused_at("[store a]\npath = /a\npath = /b\n", 3, "path");
	/* The same section given twice is one section: still a duplicate. */
	refused_at("[store a]\npath = /a\n[store b]\npath = /b\n"
	    "[store a]\npath = /c\n", 6, "path");
}
END_TEST

START_TEST(test_timeout_given_twice)
{
	/* Regression test (was a bug, fixed): lib/config.c on_listen() sets timeout without set_once(): a
	 * second "timeout =" silently replaces the first (expected -1 and
	 * "FILE:4: timeout given twice", got 0 with timeout 20). */
	refused_at("[listen]\naddress = h:1\ntimeout = 10\ntimeout = 20\n"
	    "key = /k\n", 4, "timeout");
}
END_TEST

START_TEST(test_max_sessions)
{
	write_conf("[listen]\naddress = h:1\nkey = /k\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.max_sessions, CONFIG_MAX_SESSIONS);
	config_release(&cfg);
	write_conf("[listen]\naddress = h:1\nkey = /k\nmax_sessions = 2\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.max_sessions, 2);
	config_release(&cfg);
	refused_at("[listen]\naddress = h:1\nkey = /k\nmax_sessions = 0\n", 4,
	    "max_sessions '0' is not a number from 1 to 4096");
	refused_at("[listen]\nmax_sessions = 3\naddress = h:1\nkey = /k\n"
	    "max_sessions = 3\n", 5, "max_sessions given twice");
}
END_TEST

/* What a session process gets: the text the daemon read, not the file. */
START_TEST(test_parse_text)
{
	static const char text[] = "[listen]\naddress = h:1\nkey = /k\n\n"
	    "[store a]\npath = /srv/a\n";

	write_conf("[store b]\npath = /srv/b\n");
	ck_assert_int_eq(config_parse(&cfg, conf, text), 0);
	ck_assert_str_eq(cfg.file, conf);
	ck_assert_str_eq(cfg.text, text);
	ck_assert_ptr_nonnull(config_store(&cfg, "a"));
	ck_assert_ptr_null(config_store(&cfg, "b"));
	config_release(&cfg);
	ck_assert_int_eq(config_parse(&cfg, "/etc/x.conf", "[store a]\n"
	    "path = rel\n"), -1);
	ck_assert_msg(strncmp(log_last(), "/etc/x.conf:2: ", 15) == 0,
	    "message '%s'", log_last());
}
END_TEST

START_TEST(test_relative_path)
{
	refused_at("[store a]\nuser = x\npath = srv/a\n", 3, "srv/a");
	refused_at("[store a]\npath = ./a\n", 2, "absolute");
	refused_at("[store a]\npath = ~/a\n", 2, "absolute");
}
END_TEST

START_TEST(test_bad_timeout)
{
	static const char *bad[] = {
		"0", "-5", "abc", "10s", "86401", "99999999999999999999",
		"1.5", "0x10",
	};
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[listen]\naddress = h:1\n"
		    "key = /k\ntimeout = %s\n", bad[i]);
		refused_at(text, 4, "timeout");
	}
	/* The bounds themselves are fine. */
	write_conf("[listen]\naddress = h:1\nkey = /k\ntimeout = 1\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.timeout, 1);
	config_release(&cfg);
	write_conf("[listen]\naddress = h:1\nkey = /k\ntimeout = 86400\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.timeout, 86400);
	config_release(&cfg);
}
END_TEST

START_TEST(test_whole_file)
{
	static const struct { const char *v; int want; } ok[] = {
		{ "auto", WHOLE_FILE_AUTO }, { "yes", WHOLE_FILE_YES },
		{ "no", WHOLE_FILE_NO },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "[fileset a]\nsource = /s\n"
		    "dest = /d\nwhole_file = %s\n", ok[i].v);
		write_conf(text);
		ck_assert_int_eq(config_load(&cfg, conf), 0);
		ck_assert_int_eq(cfg.filesets[0].whole_file, ok[i].want);
		config_release(&cfg);
	}
	write_conf("[fileset a]\nsource = /s\ndest = /d\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.filesets[0].whole_file, WHOLE_FILE_AUTO);
	config_release(&cfg);
	refused_at("[fileset a]\nsource = /s\ndest = /d\nwhole_file = "
	    "sometimes\n", 4, "whole_file");
}
END_TEST

START_TEST(test_xattrs_acls)
{
	write_conf("[fileset a]\nsource = /s\ndest = /d\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.filesets[0].xattrs, 1);	/* kept by default */
	ck_assert_int_eq(cfg.filesets[0].acls, 1);
	config_release(&cfg);
	write_conf("[fileset a]\nsource = /s\ndest = /d\nxattrs = no\n"
	    "acls = no\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.filesets[0].xattrs, 0);
	ck_assert_int_eq(cfg.filesets[0].acls, 0);
	config_release(&cfg);
	refused_at("[fileset a]\nsource = /s\ndest = /d\nacls = some\n", 4,
	    "acls");
}
END_TEST

START_TEST(test_retry)
{
	write_conf("[fileset a]\nsource = /s\ndest = /d\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.filesets[0].retry_min, CONFIG_RETRY_MIN);
	ck_assert_int_eq(cfg.filesets[0].retry_max, CONFIG_RETRY_MAX);
	config_release(&cfg);
	write_conf("[fileset a]\nsource = /s\ndest = /d\nretry_min = 2\n"
	    "retry_max = 2\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_int_eq(cfg.filesets[0].retry_min, 2);
	ck_assert_int_eq(cfg.filesets[0].retry_max, 2);
	config_release(&cfg);
	refused_at("[fileset a]\nsource = /s\ndest = /d\nretry_min = 0\n",
	    4, "retry_min = '0': not a number of seconds (1-86400)");
	refused_at("[fileset a]\nsource = /s\ndest = /d\nretry_max = 5m\n",
	    4, "retry_max = '5m'");
	/* A maximum below the minimum names the section. */
	refused_at("\n[fileset a]\nsource = /s\ndest = /d\nretry_min = 60\n"
	    "retry_max = 10\n", 2, "[fileset a] has retry_max 10 below "
	    "retry_min 60");
}
END_TEST

START_TEST(test_filter_rules)
{
	const struct fileset_conf *fs;

	write_conf("[fileset a]\nsource = /s\ndest = /d\n"
	    "filter = + keep.tmp\nexclude = *.tmp\nfilter = - sub/x\n"
	    "include = a[0-9]\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	fs = &cfg.filesets[0];
	/* in the order given, rules and globs alike */
	ck_assert_uint_eq(fs->filter.n, 4);
	ck_assert_int_eq(fs->filter.rules[0].kind, FILTER_INCLUDE);
	ck_assert_str_eq(fs->filter.rules[0].pattern, "keep.tmp");
	ck_assert_int_eq(fs->filter.rules[1].kind, FILTER_EXCLUDE);
	ck_assert_str_eq(fs->filter.rules[2].pattern, "**/sub/x");
	ck_assert_int_eq(fs->filter.rules[3].kind, FILTER_INCLUDE);
	ck_assert_int_eq(filter_excluded(&fs->filter, "keep.tmp", 0), 0);
	ck_assert_int_eq(filter_excluded(&fs->filter, "a/b.tmp", 0), 1);
	ck_assert_int_eq(filter_excluded(&fs->filter, "y/sub/x", 0), 1);
	config_release(&cfg);
	refused_at("[fileset a]\nsource = /s\ndest = /d\nfilter = *.tmp\n", 4,
	    "filter = '*.tmp': '*.tmp' is no rule");
	refused_at("[fileset a]\nsource = /s\n\nfilter = merge x\n", 4,
	    "rsync's 'merge' rule is not supported");
	refused_at("[fileset a]\nsource = /s\nexclude = [x\n", 3,
	    "exclude = '[x': an unclosed '['");
}
END_TEST

START_TEST(test_empty_values)
{
	refused_at("[listen]\naddress = h:1\nkey =\n", 3, "key");
	refused_at("[store a]\npath = /a\nuser =\n", 3, "user");
	refused_at("[listen]\naddress = h:1\nkey = /k\ntimeout =\n", 4,
	    "timeout");
}
END_TEST

START_TEST(test_address_without_port)
{
	refused_at("[listen]\nkey = /k\naddress = localhost\n", 3, "localhost");
	refused_at("[listen]\naddress = 10.0.0.1\nkey = /k\n", 2, "10.0.0.1");
}
END_TEST

START_TEST(test_address_empty_port)
{
	/* Regression test (was a bug, fixed): lib/config.c on_listen() only looks for a ':' in address:
	 * "host:" (an empty port) is accepted (expected -1 with "FILE:2:
	 * address 'host:' is not HOST:PORT", got 0). */
	refused_at("[listen]\naddress = host:\nkey = /k\n", 2, "host:");
}
END_TEST

START_TEST(test_address_v6_without_port)
{
	/* Regression test (was a bug, fixed): lib/config.c on_listen(): "[::1]" has a ':' inside the
	 * brackets, so an IPv6 address without a port is accepted (expected
	 * -1 with "FILE:2: address '[::1]' is not HOST:PORT", got 0;
	 * syncd's listen_on() then splits it at the last ':'). */
	refused_at("[listen]\naddress = [::1]\nkey = /k\n", 2, "[::1]");
}
END_TEST

START_TEST(test_address_forms)
{
	/* The forms syncd/main.c listen_on() understands. */
	write_conf("[listen]\naddress = [::1]:7000\nkey = /k\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_str_eq(cfg.address, "[::1]:7000");
	config_release(&cfg);
	write_conf("[listen]\naddress = *:7000\nkey = /k\n");
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	ck_assert_str_eq(cfg.address, "*:7000");
	config_release(&cfg);
}
END_TEST

START_TEST(test_store_without_path)
{
	/* Regression test (was a bug, fixed): lib/config.c check_complete() logs "FILE: [store b] has no
	 * path" without a line (store_conf.line is never set): expected
	 * "FILE:3: ...", the line of the [store b] header. */
	refused_at("[store a]\npath = /a\n[store b]\nuser = bob\n", 3,
	    "store b");
}
END_TEST

START_TEST(test_store_without_keys)
{
	/* Regression test (was a bug, fixed): lib/config.c: a [store b] section with no keys at all is a
	 * store without a path, but inih calls no handler for it and
	 * check_sections() accepts any "store " header: expected -1 with
	 * "FILE:3: ... [store b] has no path", got 0 with the store
	 * silently missing. */
	refused_at("[store a]\npath = /a\n[store b]\n", 3, "store b");
}
END_TEST

START_TEST(test_listen_without_key)
{
	/* Regression test (was a bug, fixed): lib/config.c check_complete() logs "FILE: [listen] needs
	 * address and key" without a line: expected "FILE:1: ...", the
	 * line of the [listen] header. */
	refused_at("[listen]\naddress = h:1\ntimeout = 5\n", 1, "key");
}
END_TEST

START_TEST(test_listen_without_address)
{
	/* Regression test (was a bug, fixed): as test_listen_without_key (no line in the message). */
	refused_at("[store a]\npath = /a\n[listen]\nkey = /k\n", 3, "address");
}
END_TEST

START_TEST(test_not_key_value)
{
	refused_at("[store a]\npath = /a\njust some words\n", 3, NULL);
	refused_at("garbage\n[store a]\npath = /a\n", 1, NULL);
	refused_at("[store a\npath = /a\n", 1, NULL);
}
END_TEST

START_TEST(test_first_error_message)
{
	/*
	 * Two mistakes: the message is the first one's, at its line. (inih
	 * goes on after an error unless built with INI_STOP_ON_FIRST_ERROR;
	 * a later handler error must not replace the first message.)
	 * Regression test (was a bug, fixed): lib/config.c config_load(): ini_parse() (Debian's libinih 55
	 * does not stop at the first error) returns the first error's line
	 * but ps.err holds the last handler error: for "nonsense line" at 3
	 * and "owner = x" at 4 the message is "FILE:3: unknown key 'owner'
	 * in [store a]" (expected "FILE:3: not a section, a 'key = value'
	 * line or a comment").
	 */
	refused_at("[store a]\npath = /a\nnonsense line\nowner = x\n", 3, NULL);
	ck_assert_msg(strstr(log_last(), "owner") == NULL, "message '%s' is "
	    "about line 4", log_last());
	refused_at("[store a]\npath = rel\nowner = x\n", 2, "rel");
	ck_assert_msg(strstr(log_last(), "owner") == NULL, "message '%s' is "
	    "about line 3", log_last());
}
END_TEST

START_TEST(test_bad_store_name)
{
	/* Found at the section's first key. */
	refused_at("[store a/b]\npath = /a\n", 2, "a/b");
	refused_at("[store ..]\npath = /a\n", 2, "..");
}
END_TEST

START_TEST(test_message_on_stderr)
{
	char out[PATH_MAX], text[4096], want[PATH_MAX + 64];
	int fd, saved;
	ssize_t n;

	/* The message goes to stderr, prefixed with the program name. */
	log_init("test_config", LOG_ERROR);
	snprintf(out, sizeof(out), "%s/stderr", top);
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ne(saved, -1);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	write_conf("[listen]\naddress = h:1\nkey = /k\nbogus = 1\n");
	ck_assert_int_eq(config_load(&cfg, conf), -1);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	snprintf(want, sizeof(want), "test_config: %s:4: ", conf);
	ck_assert_msg(strncmp(text, want, strlen(want)) == 0, "stderr '%s'",
	    text);
	ck_assert_ptr_nonnull(strstr(text, "bogus"));
	ck_assert_msg(strchr(text, '\n') == text + n - 1, "stderr '%s' is not "
	    "one line", text);
}
END_TEST

START_TEST(test_release_twice)
{
	write_conf(valid);
	ck_assert_int_eq(config_load(&cfg, conf), 0);
	config_release(&cfg);
	config_release(&cfg);
	assert_released();
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *su = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_valid_stores_only);
	tcase_add_test(tc, test_valid_empty);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_unknown_section);
	tcase_add_test(tc, test_unknown_empty_section);
	tcase_add_test(tc, test_unknown_key_listen);
	tcase_add_test(tc, test_unknown_key_store);
	tcase_add_test(tc, test_key_given_twice);
	tcase_add_test(tc, test_timeout_given_twice);
	tcase_add_test(tc, test_max_sessions);
	tcase_add_test(tc, test_parse_text);
	tcase_add_test(tc, test_relative_path);
	tcase_add_test(tc, test_bad_timeout);
	tcase_add_test(tc, test_empty_values);
	tcase_add_test(tc, test_whole_file);
	tcase_add_test(tc, test_xattrs_acls);
	tcase_add_test(tc, test_retry);
	tcase_add_test(tc, test_filter_rules);
	tcase_add_test(tc, test_address_without_port);
	tcase_add_test(tc, test_address_empty_port);
	tcase_add_test(tc, test_address_v6_without_port);
	tcase_add_test(tc, test_address_forms);
	tcase_add_test(tc, test_store_without_path);
	tcase_add_test(tc, test_store_without_keys);
	tcase_add_test(tc, test_listen_without_key);
	tcase_add_test(tc, test_listen_without_address);
	tcase_add_test(tc, test_not_key_value);
	tcase_add_test(tc, test_first_error_message);
	tcase_add_test(tc, test_bad_store_name);
	tcase_add_test(tc, test_message_on_stderr);
	tcase_add_test(tc, test_release_twice);
	tcase_add_test(tc, test_forward);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(config_suite(), base);
}
