/*
 * Unit tests for words.h: the remote shell's command split into words
 * without a shell, and a word quoted so that a real /bin/sh reads back
 * exactly what was quoted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "words.h"

/* Splits s and checks the words against want (NULL-terminated). */
static void
splits(const char *s, const char *const *want)
{
	char err[128] = "", **v = words_split(s, err, sizeof(err));
	size_t i;

	ck_assert_msg(v != NULL, "'%s' refused: %s", s, err);
	for (i = 0; want[i] != NULL; i++) {
		ck_assert_msg(v[i] != NULL, "'%s': word %zu missing", s, i);
		ck_assert_str_eq(v[i], want[i]);
	}
	ck_assert_msg(v[i] == NULL, "'%s': extra word '%s'", s, v[i]);
	words_free(v);
}

START_TEST(test_split_plain)
{
	splits("ssh", (const char *[]){ "ssh", NULL });
	splits("  ssh   -p 2222\t-i KEY ", (const char *[]){ "ssh", "-p",
	    "2222", "-i", "KEY", NULL });
	/* No expansion of any kind. */
	splits("ssh $HOME ~ * `x` $(y) ;z", (const char *[]){ "ssh", "$HOME",
	    "~", "*", "`x`", "$(y)", ";z", NULL });
}
END_TEST

START_TEST(test_split_quotes)
{
	splits("ssh -i 'my key' -o \"ProxyCommand=nc %h %p\"",
	    (const char *[]){ "ssh", "-i", "my key", "-o",
	    "ProxyCommand=nc %h %p", NULL });
	splits("a'b c'd", (const char *[]){ "ab cd", NULL });
	splits("'it''s'", (const char *[]){ "its", NULL });
	splits("\"a \\\"b\\\" \\\\ \\n\"", (const char *[]){ "a \"b\" \\ \\n",
	    NULL });
	splits("a\\ b c\\'d", (const char *[]){ "a b", "c'd", NULL });
	splits("'' x", (const char *[]){ "", "x", NULL });
	splits("'\"' \"'\"", (const char *[]){ "\"", "'", NULL });
}
END_TEST

START_TEST(test_split_refused)
{
	static const char *const bad[] = { "", "   ", "ssh 'x", "ssh \"x",
	    "ssh \"a\\\"", NULL };
	char err[128];

	for (size_t i = 0; bad[i] != NULL; i++) {
		err[0] = '\0';
		ck_assert_msg(words_split(bad[i], err, sizeof(err)) == NULL,
		    "'%s' accepted", bad[i]);
		ck_assert_msg(err[0] != '\0', "'%s': no reason", bad[i]);
	}
}
END_TEST

START_TEST(test_quote_form)
{
	char *q = words_quote("it's");

	ck_assert_str_eq(q, "'it'\\''s'");
	free(q);
	q = words_quote("");
	ck_assert_str_eq(q, "''");
	free(q);
}
END_TEST

/* What /bin/sh -c 'printf %s QUOTED' prints. */
static char *
sh_reads(const char *quoted)
{
	static char out[8192];
	char *cmd;
	int p[2], st;
	ssize_t n, total = 0;
	pid_t pid;

	ck_assert_int_ne(asprintf(&cmd, "printf %%s %s", quoted), -1);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		dup2(p[1], 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], out + total, sizeof(out) - 1 - total)) > 0)
		total += n;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sh failed on %s",
	    cmd);
	free(cmd);
	out[total] = '\0';
	return out;
}

START_TEST(test_quote_through_sh)
{
	static const char *const hard[] = { "plain", "/srv/a b", "a;touch X",
	    "$(touch X)", "`touch X`", "it's", "''", "'\\''", "a\nb",
	    "\"q\" 'q'", "$HOME ~ * ?", "a>b", "-n", "\\", "&|<>!#", NULL };

	for (size_t i = 0; hard[i] != NULL; i++) {
		char *q = words_quote(hard[i]);

		ck_assert_str_eq(sh_reads(q), hard[i]);
		free(q);
	}
}
END_TEST

static Suite *
words_suite(void)
{
	Suite *s = suite_create("words");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_split_plain);
	tcase_add_test(tc, test_split_quotes);
	tcase_add_test(tc, test_split_refused);
	tcase_add_test(tc, test_quote_form);
	tcase_add_test(tc, test_quote_through_sh);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(words_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
