/* log: leveled messages to stderr (plain, time-stamped or for journald) or to syslog. */
#include <syslog.h>
/* syslog.h's LOG_INFO and LOG_DEBUG are priorities; log.h's are our levels. */
enum { PRIO_ERR = LOG_ERR, PRIO_WARNING = LOG_WARNING, PRIO_INFO = LOG_INFO,
    PRIO_DEBUG = LOG_DEBUG, SYSLOG_OPTIONS = LOG_PID | LOG_NDELAY,
    SYSLOG_FACILITY = LOG_DAEMON };
#undef LOG_INFO
#undef LOG_DEBUG

#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format.h"

static const char *log_progname = "mirrorfs";
static enum log_level log_level = LOG_INFO;
static enum log_style log_style = LOG_STYLE_PLAIN;
static __thread char log_last_msg[2048];

void
log_init(const char *progname, enum log_level level)
{
	log_progname = progname;
	log_level = level;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_to_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &tail) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_set_style(enum log_style style)
{
	if (style == LOG_STYLE_SYSLOG && log_style != LOG_STYLE_SYSLOG)
		openlog(log_progname, SYSLOG_OPTIONS, SYSLOG_FACILITY);
	log_style = style;
}

void
log_choose_style(enum log_style otherwise)
{
	log_set_style(log_to_journal() ? LOG_STYLE_JOURNAL : otherwise);
}

static int
priority(enum log_level level)
{
	switch (level) {
	case LOG_ERROR: return PRIO_ERR;
	case LOG_WARN: return PRIO_WARNING;
	case LOG_DEBUG: return PRIO_DEBUG;
	default: return PRIO_INFO;
	}
}

/* A message is one line: a peer's text must not forge another. */
static void
one_line(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			*s = ' ';
}

/* One write per message so concurrent threads never interleave a line. */
static void
log_write(enum log_level level, const char *msg)
{
	const char *tag = level == LOG_WARN ? "warning: " :
	    level == LOG_DEBUG ? "debug: " : "";
	struct timespec ts;
	char when[64];

	switch (log_style) {
	case LOG_STYLE_SYSLOG:
		syslog(priority(level), "%s%s", tag, msg);
		break;
	case LOG_STYLE_JOURNAL:
		fprintf(stderr, "<%d>%s%s\n", priority(level), tag, msg);
		break;
	case LOG_STYLE_STAMPED:
		clock_gettime(CLOCK_REALTIME, &ts);
		format_rfc3339(when, sizeof(when), &ts, 3);
		fprintf(stderr, "%s %s: %s%s\n", when, log_progname, tag, msg);
		break;
	default:
		fprintf(stderr, "%s: %s%s\n", log_progname, tag, msg);
	}
}

static void
log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048], line[2600];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* libfuse ends its messages with a newline; ours are lines already. */
	for (size_t n = strlen(msg); n > 0 && msg[n - 1] == '\n'; n--)
		msg[n - 1] = '\0';
	if (errnum)
		snprintf(line, sizeof(line), "%s: %s", msg, strerror(errnum));
	else
		snprintf(line, sizeof(line), "%s", msg);
	one_line(line);
	if (level <= LOG_WARN) {
		if (errnum)
			snprintf(log_last_msg, sizeof(log_last_msg), "%.1500s: %.500s",
			    msg, strerror(errnum));
		else
			snprintf(log_last_msg, sizeof(log_last_msg), "%s", msg);
	}
	if (level <= log_level)
		log_write(level, line);
	errno = saved;
}

void
log_vmessage(enum log_level level, const char *fmt, va_list ap)
{
	log_emit(level, 0, fmt, ap);
}

const char *
log_last(void)
{
	return log_last_msg;
}

void
log_adopt(const char *msg)
{
	snprintf(log_last_msg, sizeof(log_last_msg), "%s", msg);
}

#define LOG_DEFINE(name, level, with_errno)			\
	void name(const char *fmt, ...)				\
	{							\
		va_list ap;					\
		int errnum = (with_errno) ? errno : 0;		\
		va_start(ap, fmt);				\
		log_emit(level, errnum, fmt, ap);		\
		va_end(ap);					\
	}

LOG_DEFINE(log_err, LOG_ERROR, 1)
LOG_DEFINE(log_errx, LOG_ERROR, 0)
LOG_DEFINE(log_warn, LOG_WARN, 1)
LOG_DEFINE(log_warnx, LOG_WARN, 0)
LOG_DEFINE(log_info, LOG_INFO, 0)
LOG_DEFINE(log_debug, LOG_DEBUG, 0)
