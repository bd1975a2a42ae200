/* log: leveled messages to stderr, each prefixed with the program name. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_progname = "mirrorfs";
static enum log_level log_level = LOG_INFO;
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

/* One fprintf per message so concurrent threads never interleave a line. */
static void
log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[2048];
	const char *tag = "";
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (level <= LOG_WARN) {
		if (errnum)
			snprintf(log_last_msg, sizeof(log_last_msg), "%.1500s: %.500s",
			    msg, strerror(errnum));
		else
			snprintf(log_last_msg, sizeof(log_last_msg), "%s", msg);
	}
	if (level > log_level)
		return;
	if (level == LOG_WARN)
		tag = "warning: ";
	else if (level == LOG_DEBUG)
		tag = "debug: ";
	if (errnum)
		fprintf(stderr, "%s: %s%s: %s\n", log_progname, tag, msg,
		    strerror(errnum));
	else
		fprintf(stderr, "%s: %s%s\n", log_progname, tag, msg);
	errno = saved;
}

const char *
log_last(void)
{
	return log_last_msg;
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
