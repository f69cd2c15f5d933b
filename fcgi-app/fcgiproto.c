/* Placeholder: the incremental FastCGI parser lands here (issue 14). */
#include "fcgiproto.h"
