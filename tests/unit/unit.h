/* unit: what the Check suites share: a scratch directory per binary, and the runner. */
#ifndef MIRRORFS_UNIT_H
#define MIRRORFS_UNIT_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static int
unit_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes path and everything below it, never following a symlink. */
static inline void
rm_rf(const char *path)
{
	nftw(path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Makes the scratch directory base (a mkdtemp template), runs suite s,
 * removes base. The exit status of a test binary.
 */
static inline int
unit_main(Suite *s, char *base)
{
	SRunner *sr;
	int failed;

	if (mkdtemp(base) == NULL) {
		perror(base);
		return EXIT_FAILURE;
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_rf(base);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
