/* Unit tests for log.h and format.h: the styles of messages, JOURNAL_STREAM, RFC 3339 times. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "format.h"
#include "unit.h"

static char base[] = "/tmp/test_log.XXXXXX";
static char file[sizeof(base) + 16];
static int saved_stderr = -1;

/* Points stderr at a new empty file. */
static void
setup(void)
{
	int fd;

	snprintf(file, sizeof(file), "%s/err", base);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
	unsetenv("JOURNAL_STREAM");
	log_init("test_log", LOG_DEBUG);
	log_set_style(LOG_STYLE_PLAIN);
}

static void
teardown(void)
{
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unlink(file);
}

/* What was written to stderr since setup. */
static char *
written(void)
{
	static char text[8192];
	FILE *f;
	size_t n;

	fflush(stderr);
	f = fopen(file, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void
set_journal_stream(dev_t dev, ino_t ino)
{
	char v[64];

	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)dev,
	    (unsigned long long)ino);
	setenv("JOURNAL_STREAM", v, 1);
}

START_TEST(test_journal_stream_must_be_stderr)
{
	struct stat st;

	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	ck_assert_int_eq(log_to_journal(), 0);		/* unset */
	set_journal_stream(st.st_dev, st.st_ino);
	ck_assert_int_eq(log_to_journal(), 1);
	/* a stream systemd gave, but stderr was redirected since */
	set_journal_stream(st.st_dev, st.st_ino + 1);
	ck_assert_int_eq(log_to_journal(), 0);
	setenv("JOURNAL_STREAM", "garbage", 1);
	ck_assert_int_eq(log_to_journal(), 0);
	setenv("JOURNAL_STREAM", "1:2:3", 1);
	ck_assert_int_eq(log_to_journal(), 0);
	setenv("JOURNAL_STREAM", "", 1);
	ck_assert_int_eq(log_to_journal(), 0);
}
END_TEST

START_TEST(test_choose_style)
{
	struct stat st;

	log_choose_style(LOG_STYLE_STAMPED);
	log_info("one");
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	set_journal_stream(st.st_dev, st.st_ino);
	log_choose_style(LOG_STYLE_STAMPED);
	log_info("two");
	ck_assert_msg(strstr(written(), " test_log: one\n<6>two\n") != NULL,
	    "got '%s'", written());
}
END_TEST

START_TEST(test_journal_priorities)
{
	log_set_style(LOG_STYLE_JOURNAL);
	log_errx("an error");
	errno = ENOENT;
	log_err("a path");
	log_warnx("careful");
	log_info("news");
	log_debug("detail");
	ck_assert_str_eq(written(), "<3>an error\n"
	    "<3>a path: No such file or directory\n"
	    "<4>warning: careful\n"
	    "<6>news\n"
	    "<7>debug: detail\n");
}
END_TEST

START_TEST(test_plain)
{
	log_errx("an error");
	log_warnx("careful");
	ck_assert_str_eq(written(), "test_log: an error\n"
	    "test_log: warning: careful\n");
}
END_TEST

START_TEST(test_stamped)
{
	regex_t re;
	int r;

	log_set_style(LOG_STYLE_STAMPED);
	log_info("hello");
	ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} test_log: "
	    "hello\n$", REG_EXTENDED), 0);
	r = regexec(&re, written(), 0, NULL, 0);
	regfree(&re);
	ck_assert_msg(r == 0, "not a stamped line: '%s'", written());
}
END_TEST

START_TEST(test_one_line_each)
{
	/* A peer's text with newlines cannot forge lines of its own. */
	log_set_style(LOG_STYLE_JOURNAL);
	log_errx("peer says: %s", "bad\n<6>all is well\r\n");
	ck_assert_str_eq(written(), "<3>peer says: bad <6>all is well \n");
}
END_TEST

static void
vmessage(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmessage(level, fmt, ap);
	va_end(ap);
}

START_TEST(test_vmessage_drops_the_newline)
{
	log_set_style(LOG_STYLE_JOURNAL);
	vmessage(LOG_ERROR, "fuse: %s\n", "bad mount option");
	vmessage(LOG_DEBUG, "quiet\n");
	log_set_level(LOG_INFO);
	vmessage(LOG_DEBUG, "not shown\n");
	ck_assert_str_eq(written(), "<3>fuse: bad mount option\n"
	    "<7>debug: quiet\n");
	ck_assert_str_eq(log_last(), "fuse: bad mount option");
}
END_TEST

START_TEST(test_rfc3339)
{
	struct timespec ts = { 0, 123456789 };
	char buf[FORMAT_TIME_LEN];

	setenv("TZ", "UTC", 1);
	tzset();
	format_rfc3339(buf, sizeof(buf), &ts, 0);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00+00:00");
	format_rfc3339(buf, sizeof(buf), &ts, 3);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.123+00:00");
	format_rfc3339(buf, sizeof(buf), &ts, 9);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00.123456789+00:00");
	setenv("TZ", "EST5", 1);
	tzset();
	ts.tv_sec = 86400 * 365;
	format_rfc3339(buf, sizeof(buf), &ts, 0);
	ck_assert_str_eq(buf, "1970-12-31T19:00:00-05:00");
	setenv("TZ", "IST-5:30", 1);
	tzset();
	format_rfc3339(buf, sizeof(buf), &ts, 1);
	ck_assert_str_eq(buf, "1971-01-01T05:30:00.1+05:30");
	unsetenv("TZ");
	tzset();
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_journal_stream_must_be_stderr);
	tcase_add_test(tc, test_choose_style);
	tcase_add_test(tc, test_journal_priorities);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_stamped);
	tcase_add_test(tc, test_one_line_each);
	tcase_add_test(tc, test_vmessage_drops_the_newline);
	tcase_add_test(tc, test_rfc3339);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(log_suite(), base);
}
