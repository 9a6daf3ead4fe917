/* The version pipeline reports (--version, stage records, package
 * manifests); a build may set another with -DPL_VERSION='"x.y.z"'. */
#ifndef PL_VERSION_H
#define PL_VERSION_H

#ifndef PL_VERSION
#define PL_VERSION "0.1.0"
#endif

#endif
