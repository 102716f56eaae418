/* demangle.c - the Itanium C++ ABI demangler of libstdc++ (the one g++ and clang++ targets use),
 * applied to whole names and to the mangled words inside a longer label. */
#include "util/demangle.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

bool ls_no_demangle;

/* libstdc++'s abi::__cxa_demangle, an extern "C" function of <cxxabi.h> */
char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* Mangled names start with _Z (and "_GLOBAL__sub_I_" for static constructors, which
 * __cxa_demangle leaves alone). */
static bool looks_mangled(const char *s)
{
	return s[0] == '_' && s[1] == 'Z';
}

char *ls_demangle(const char *name)
{
	int status = -1;
	char *out;

	if (ls_no_demangle || !name || !looks_mangled(name))
		return NULL;
	out = __cxa_demangle(name, NULL, NULL, &status);
	if (status != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The characters of a linkage name, clone suffixes (".cold", ".isra.0") included. */
static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '$';
}

char *ls_demangle_text(const char *text)
{
	size_t len, cap, n = 0;
	bool changed = false;
	char *out;

	if (ls_no_demangle || !text || !strstr(text, "_Z"))
		return NULL;
	len = strlen(text);
	cap = len + 1;
	out = malloc(cap);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t end = i, wlen;
		char *word, *dem = NULL, *grown;

		while (end < len && name_char(text[end]))
			end++;
		if (end == i) {
			out[n++] = text[i++];
			continue;
		}
		wlen = end - i;
		/* "func+0x1a": the offset is no part of the name */
		word = looks_mangled(text + i) ? strndup(text + i, wlen) : NULL;
		dem = word ? ls_demangle(word) : NULL;
		free(word);
		if (dem) {
			size_t dlen = strlen(dem);

			if (n + dlen + (len - end) + 1 > cap) {
				cap = n + dlen + (len - end) + 1;
				grown = realloc(out, cap);
				if (!grown) {
					free(dem);
					free(out);
					return NULL;
				}
				out = grown;
			}
			memcpy(out + n, dem, dlen);
			n += dlen;
			free(dem);
			changed = true;
		} else {
			memcpy(out + n, text + i, wlen);
			n += wlen;
		}
		i = end;
	}
	out[n] = '\0';
	if (!changed) {
		free(out);
		return NULL;
	}
	return out;
}
