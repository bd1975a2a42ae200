/* promtext: Prometheus's text exposition format, and a textfile written whole for node-exporter. */
#ifndef MIRRORFS_PROMTEXT_H
#define MIRRORFS_PROMTEXT_H

#include <stddef.h>
#include <stdio.h>

/* A label of a sample: its name (a valid label name) and any value. */
struct promtext_label {
	const char *name;
	const char *value;
};

/*
 * Writes a metric family's "# HELP name help" and "# TYPE name type"
 * lines (type: counter or gauge); help is escaped as the format requires
 * (backslash, newline).
 */
void promtext_family(FILE *f, const char *name, const char *type,
    const char *help);
/*
 * Writes one sample: name{l1="v1",...} value, each value escaped
 * (backslash, double quote, newline); no braces without labels. value
 * is written exactly for integers up to 2^53 and as %.15g beyond.
 */
void promtext_sample(FILE *f, const char *name,
    const struct promtext_label *labels, size_t nlabels, double value);
/* Writes s as a label value: \\ for a backslash, \" and \n. */
void promtext_escape(FILE *f, const char *s);

/*
 * Replaces the file at path with len bytes of text at once, as the
 * textfile collector needs: written to path.tmp (mode 0644), then renamed
 * over path, so a reader sees the old file or the new one. 0, or -1
 * logged with the file's name (the temporary file removed).
 */
int promtext_write_file(const char *path, const char *text, size_t len);

#endif
