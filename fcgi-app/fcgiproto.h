/*
 * fcgiproto: an incremental FastCGI record parser and writer (issue 14),
 * for loops that serve many connections without blocking.
 */
#ifndef CW_FCGIPROTO_H
#define CW_FCGIPROTO_H

#endif
