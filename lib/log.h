/* log: leveled messages to stderr (plain, time-stamped or for journald) or to syslog. */
#ifndef MIRRORFS_LOG_H
#define MIRRORFS_LOG_H

#include <stdarg.h>

enum log_level { LOG_SILENT = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the program name printed before every message (not copied). */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* How each message is written. */
enum log_style {
	LOG_STYLE_PLAIN,	/* stderr: "prog: message" (the default) */
	LOG_STYLE_STAMPED,	/* stderr: "2026-11-21T20:35:25.123+01:00 prog: message" */
	LOG_STYLE_JOURNAL,	/* stderr: "<3>message", the priority for journald */
	LOG_STYLE_SYSLOG,	/* syslog(3) as prog[pid], facility daemon */
};

/*
 * 1 when stderr is the stream systemd connected to the journal: the
 * JOURNAL_STREAM variable names its device and inode (sd-daemon(3)), so
 * a stderr redirected elsewhere since is not taken for it.
 */
int log_to_journal(void);
/*
 * Writes messages in style from now on (LOG_STYLE_SYSLOG opens the
 * connection to syslog). Call before threads start, or while no thread
 * logs.
 */
void log_set_style(enum log_style style);
/* LOG_STYLE_JOURNAL when log_to_journal(), else otherwise: the usual choice. */
void log_choose_style(enum log_style otherwise);

/* A message at level, as log_info and the others write theirs (for libfuse). */
void log_vmessage(enum log_level level, const char *fmt, va_list ap);

/* log_err appends ": strerror(errno)"; log_errx does not. errno is preserved. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The text of the last error or warning logged by the calling thread
 * (without the program name), so a receiver can pass it to its peer.
 * Empty when none. Valid until the thread logs again.
 */
const char *log_last(void);
/*
 * Makes msg this thread's last message without logging it again: a
 * failure that a helper thread logged on the caller's behalf.
 */
void log_adopt(const char *msg);

#endif
