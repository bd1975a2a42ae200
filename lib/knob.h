/* knob: the counts a test sets in the environment (MIRRORFS_WINDOW, ...), checked before they are taken. */
#ifndef MIRRORFS_KNOB_H
#define MIRRORFS_KNOB_H

/*
 * The count in the environment variable name, from min to max: 1 with
 * *v set; 0 when it is unset or empty; 0 too when it is no such count
 * (a sign, other characters, out of range), warned of as
 * "NAME=VALUE: not a count of WHAT from MIN on: INSTEAD" (or "from MIN
 * to MAX" for a max below 2^31), *v untouched.
 */
int knob_count(const char *name, const char *what, unsigned long long min,
    unsigned long long max, const char *instead, unsigned long long *v);

#endif
