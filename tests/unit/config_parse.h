/* config_parse.h -- the config tests' one way to run configParse on an argv
 * with its output captured. Include it in exactly one test program's .c. */
#ifndef MEMOSCOPE_TESTS_CONFIG_PARSE_H
#define MEMOSCOPE_TESTS_CONFIG_PARSE_H

#include <stdio.h>
#include <string.h>

#include "config.h"

/* What the last parse() printed to its standard output and error. */
static char out_buf[8192], err_buf[1024];

/* Parses argv (NULL-terminated) with output captured in out_buf, err_buf. */
static configResult parse(config *cfg, const char **argv) {
    int argc = 0;
    while (argv[argc])
        argc++;
    memset(out_buf, 0, sizeof(out_buf));
    memset(err_buf, 0, sizeof(err_buf));
    FILE *out = fmemopen(out_buf, sizeof(out_buf) - 1, "w");
    FILE *err = fmemopen(err_buf, sizeof(err_buf) - 1, "w");
    configResult r = configParse(cfg, argc, (char **)argv, out, err);
    fclose(out);
    fclose(err);
    return r;
}

#endif
