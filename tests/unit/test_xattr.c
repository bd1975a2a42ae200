/*
 * Unit tests for xattr.h: the canonical form (sorted, one blob per set, so
 * equal sets are equal bytes), the checks a peer's blob must pass, reading
 * only the namespaces asked for, and applying a set exactly (idempotent).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "buf.h"
#include "unit.h"
#include "xattr.h"

static char base[] = "/tmp/test_xattr.XXXXXX";
static char file[sizeof(base) + 16];
static int fd = -1;

static void
setup(void)
{
	snprintf(file, sizeof(file), "%s/f", base);
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
}

static void
teardown(void)
{
	close(fd);
	unlink(file);
}

/* Skips a test where this filesystem holds no user.* attributes. */
static int
no_user_xattrs(void)
{
	if (fsetxattr(fd, "user.probe", "", 0, 0) == 0) {
		fremovexattr(fd, "user.probe");
		return 0;
	}
	return errno == ENOTSUP;
}

/* A blob of n attributes given as name, value pairs, in the order given. */
static uint32_t
blob_of(struct buf *b, int n, const char *const *nv)
{
	buf_init(b);
	ck_assert_int_eq(buf_put_u16(b, (uint16_t)n), 0);
	for (int i = 0; i < n; i++) {
		size_t nl = strlen(nv[2 * i]), vl = strlen(nv[2 * i + 1]);

		ck_assert_int_eq(buf_put_u8(b, (uint8_t)nl) ||
		    buf_put(b, nv[2 * i], nl) || buf_put_u32(b, (uint32_t)vl) ||
		    buf_put(b, nv[2 * i + 1], vl), 0);
	}
	return (uint32_t)b->len;
}

START_TEST(test_namespaces)
{
	ck_assert_uint_eq(xattr_ns_of("user.x"), XATTR_NS_USER);
	ck_assert_uint_eq(xattr_ns_of("trusted.x"), XATTR_NS_TRUSTED);
	ck_assert_uint_eq(xattr_ns_of("security.capability"), XATTR_NS_SECURITY);
	ck_assert_uint_eq(xattr_ns_of("system.posix_acl_access"), XATTR_NS_ACL);
	ck_assert_uint_eq(xattr_ns_of("system.posix_acl_default"), XATTR_NS_ACL);
	/* Other system.* names are the kernel's, never copied. */
	ck_assert_uint_eq(xattr_ns_of("system.nfs4_acl"), 0);
	ck_assert_uint_eq(xattr_ns_of("user"), 0);
	ck_assert_uint_eq(xattr_ns_of(""), 0);
}
END_TEST

START_TEST(test_read_is_canonical)
{
	uint8_t *blob;
	uint32_t len;
	struct buf want;
	const char *why;
	static const char *const nv[] = { "user.a", "1", "user.b", "",
	    "user.c", "three" };

	if (no_user_xattrs())
		return;
	ck_assert_int_eq(fsetxattr(fd, "user.c", "three", 5, 0), 0);
	ck_assert_int_eq(fsetxattr(fd, "user.a", "1", 1, 0), 0);
	ck_assert_int_eq(fsetxattr(fd, "user.b", "", 0, 0), 0);
	ck_assert_int_eq(xattr_read_fd(fd, XATTR_NS_ALL, &blob, &len), 0);
	blob_of(&want, 3, nv);
	ck_assert_uint_eq(len, want.len);
	ck_assert_mem_eq(blob, want.data, len);
	ck_assert_int_eq(xattr_check(blob, len, XATTR_NS_USER, &why), 0);
	free(blob);
	buf_release(&want);
	/* Only the namespaces asked for. */
	ck_assert_int_eq(xattr_read_fd(fd, XATTR_NS_ACL, &blob, &len), 0);
	ck_assert_ptr_null(blob);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_check_refuses)
{
	static const char *const unordered[] = { "user.b", "1", "user.a", "2" };
	static const char *const twice[] = { "user.a", "1", "user.a", "2" };
	static const char *const foreign[] = { "system.nfs4_acl", "1" };
	static const char *const acl[] = { "system.posix_acl_access", "1" };
	struct buf b;
	const char *why = NULL;
	uint32_t len;

	len = blob_of(&b, 2, unordered);
	ck_assert_int_eq(xattr_check(b.data, len, XATTR_NS_ALL, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "order"));
	buf_release(&b);
	len = blob_of(&b, 2, twice);
	ck_assert_int_eq(xattr_check(b.data, len, XATTR_NS_ALL, &why), -1);
	buf_release(&b);
	len = blob_of(&b, 1, foreign);
	ck_assert_int_eq(xattr_check(b.data, len, XATTR_NS_ALL, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "namespaces"));
	buf_release(&b);
	/* An ACL in a session without ACLs. */
	len = blob_of(&b, 1, acl);
	ck_assert_int_eq(xattr_check(b.data, len, XATTR_NS_XATTRS, &why), -1);
	ck_assert_int_eq(xattr_check(b.data, len, XATTR_NS_ACL, &why), 0);
	/* Every truncation of a good blob is refused. */
	for (uint32_t k = 1; k < len; k++)
		ck_assert_int_eq(xattr_check(b.data, k, XATTR_NS_ALL, &why), -1);
	/* A count of zero is not the empty set (that is no bytes at all). */
	ck_assert_int_eq(xattr_check((const uint8_t *)"\0\0", 2, XATTR_NS_ALL,
	    &why), -1);
	ck_assert_int_eq(xattr_check(NULL, 0, XATTR_NS_ALL, &why), 0);
	buf_release(&b);
	/* Over the bound of one entry. */
	ck_assert_int_eq(xattr_check(NULL, XATTR_MAX_ENTRY + 1, XATTR_NS_ALL,
	    &why), -1);
}
END_TEST

START_TEST(test_apply_exactly)
{
	static const char *const nv[] = { "user.keep", "new", "user.new", "n" };
	struct buf b;
	const char *failed;
	char val[16];
	uint32_t len;

	if (no_user_xattrs())
		return;
	ck_assert_int_eq(fsetxattr(fd, "user.keep", "old", 3, 0), 0);
	ck_assert_int_eq(fsetxattr(fd, "user.gone", "x", 1, 0), 0);
	len = blob_of(&b, 2, nv);
	ck_assert_int_eq(xattr_same_fd(fd, XATTR_NS_USER, b.data, len), 0);
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(xattr_apply_fd(fd, XATTR_NS_USER, b.data, len,
		    &failed), 0);
	ck_assert_int_eq(xattr_same_fd(fd, XATTR_NS_USER, b.data, len), 1);
	ck_assert_int_eq(fgetxattr(fd, "user.gone", val, sizeof(val)), -1);
	ck_assert_int_eq(fgetxattr(fd, "user.keep", val, sizeof(val)), 3);
	ck_assert_mem_eq(val, "new", 3);
	/* The empty set removes every attribute of the namespace. */
	ck_assert_int_eq(xattr_apply_fd(fd, XATTR_NS_USER, NULL, 0, &failed), 0);
	ck_assert_int_eq(xattr_same_fd(fd, XATTR_NS_USER, NULL, 0), 1);
	/* A malformed blob changes nothing. */
	ck_assert_int_eq(xattr_apply_fd(fd, XATTR_NS_USER, b.data, len - 1,
	    &failed), -1);
	buf_release(&b);
}
END_TEST

/* Through an O_PATH descriptor (as the journal's SWAP has): the same. */
START_TEST(test_o_path_descriptor)
{
	static const char *const nv[] = { "user.a", "1", "user.b", "two" };
	struct buf b;
	const char *failed;
	uint8_t *blob;
	uint32_t len, got;
	int pfd;

	if (no_user_xattrs())
		return;
	ck_assert_int_eq(fsetxattr(fd, "user.gone", "x", 1, 0), 0);
	pfd = open(file, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	ck_assert_int_ge(pfd, 0);
	len = blob_of(&b, 2, nv);
	ck_assert_int_eq(xattr_apply_fd(pfd, XATTR_NS_USER, b.data, len,
	    &failed), 0);
	ck_assert_int_eq(xattr_same_fd(pfd, XATTR_NS_USER, b.data, len), 1);
	ck_assert_int_eq(xattr_read_fd(pfd, XATTR_NS_USER, &blob, &got), 0);
	ck_assert_uint_eq(got, len);
	ck_assert_mem_eq(blob, b.data, len);
	free(blob);
	/* And the file itself says so, through its own descriptor. */
	ck_assert_int_eq(xattr_same_fd(fd, XATTR_NS_USER, b.data, len), 1);
	close(pfd);
	buf_release(&b);
}
END_TEST

static Suite *
xattr_suite(void)
{
	Suite *su = suite_create("xattr");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_namespaces);
	tcase_add_test(tc, test_read_is_canonical);
	tcase_add_test(tc, test_check_refuses);
	tcase_add_test(tc, test_apply_exactly);
	tcase_add_test(tc, test_o_path_descriptor);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(xattr_suite(), base);
}
