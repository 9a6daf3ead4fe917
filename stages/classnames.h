/* Class names from a file of "ID NAME..." lines (ImageNet's
 * synset_words.txt), for classes whose folder names or labels are ids. */
#ifndef PL_CLASSNAMES_H
#define PL_CLASSNAMES_H

#include "../io/cfg.h"
#include "../io/err.h"
#include "tree.h"

/* When [dataset] class_names is set, replaces each of the n class ids in
 * classes (owned strings, kept in their order) by its name from that file,
 * read relative to root in t (NULL: on disk) unless absolute. A name two classes share gets its
 * id after it, "crane (n02012849)". Errors (PL_EIO, PL_EDATA) name the
 * file and line, or the class that has no name; classes are then
 * unchanged. */
int classnames_apply(const cfg *c, const tree *t, const char *root, char **classes, int n,
		     pl_err *err);

#endif
