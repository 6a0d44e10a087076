/* Number formatting for the JSON encoder (json_number.c): Lua-free. */
#ifndef CBF_JSON_NUMBER_H
#define CBF_JSON_NUMBER_H

#include <stdint.h>

/* Room for any text the two formatters write. */
#define CBF_JSON_NUMBER_MAX 32

/* Writes the decimal digits of u ending just before `end`; returns the start. */
char *cbf_json_format_u64(char *end, uint64_t u);
/* Finite v as JSON text that reads back as the same double and as a float:
 * "0.1", "1.0", "-0.0", "1e+300", "5e-324". Returns the length (<= 25). */
int cbf_json_format_double(double v, char *out);

#endif
