/* A training configuration in its stored form (checkpoints' CONF text): what
 * parses must format and parse back to the same values. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "train/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    dr_train_config a, b;
    if (dr_train_config_parse(text, "fuzz.conf", &a) == 0) {
        static char again[DR_CONFIG_TEXT_MAX];
        dr_train_config_format(&a, again, sizeof again);
        if (dr_train_config_parse(again, "formatted", &b)) abort();
        for (int i = 0; i < dr_train_option_count; i++) {
            const dr_option *o = &dr_train_options[i];
            if (o->key && memcmp((char *)&a + o->offset, (char *)&b + o->offset, o->size)) abort();
        }
    }
    free(text);
    return 0;
}
