/* log: leveled messages to stderr, each prefixed with the program name. */
#ifndef MIRRORFS_LOG_H
#define MIRRORFS_LOG_H

enum log_level { LOG_SILENT = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the program name printed before every message (not copied). */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

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

#endif
