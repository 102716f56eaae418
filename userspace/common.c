/* common.c - the one-line error format shared by every command. */
#include "common.h"

#include <stdarg.h>
#include <string.h>

void ls_err(const char *what, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* one line, whatever the message held */
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "lockscope: %s: %s\n", what, buf);
}
