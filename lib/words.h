/* words: a command line split into words without a shell, and a word quoted for a remote shell. */
#ifndef MIRRORFS_WORDS_H
#define MIRRORFS_WORDS_H

#include <stddef.h>

/*
 * Splits s into words as rsync splits its -e command: blanks separate
 * words; 'single quotes' keep everything literally; "double quotes"
 * keep everything but \" and \\, which stand for " and \; outside quotes
 * a backslash makes the next character literal. No expansion of any
 * kind. Returns a NULL-terminated vector the caller frees with
 * words_free, or NULL with a reason in err (an empty command, an
 * unterminated quote, ENOMEM).
 */
char **words_split(const char *s, char *err, size_t errlen);
/* Frees a vector of words_split; NULL is a no-op. */
void words_free(char **v);

/*
 * s in single quotes for a POSIX shell, each ' inside written as '\''
 * (as rsync quotes its remote arguments): the shell reads it back as
 * exactly s, whatever s holds (;, $(...), `, blanks, newlines).
 * Returns an allocation the caller frees, or NULL (ENOMEM).
 */
char *words_quote(const char *s);

#endif
