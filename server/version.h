/* version.h - triad's version (the Makefile passes TRIAD_REVISION). */
#ifndef TR_SERVER_VERSION_H
#define TR_SERVER_VERSION_H

#define TRIAD_VERSION "0.1.0"
#ifndef TRIAD_REVISION
#define TRIAD_REVISION "unknown"
#endif

#endif
