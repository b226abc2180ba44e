/* Shared pieces of the libFuzzer targets (fuzz_*.c): each feeds one input to
 * one parser of outside data, through the same calls the command line makes. */
#ifndef DR_FUZZ_H
#define DR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Once per process: a private temporary folder, the memory a network may plan
 * (DOREFA_MAX_MEMORY, kept small so each input runs quickly), two threads
 * (FUZZ_THREADS to change). */
void fz_init(void);
/* Writes data to NAME inside the folder (subfolders made as needed); returns its path. */
const char *fz_file(const char *name, const uint8_t *data, size_t n);
/* The same for a sectioned file (checkpoint, deployment file), its last four
 * bytes replaced by the CRC-32 of the rest: mutations get past the checksum
 * to the parsers behind it (the checksum itself is tested apart). */
const char *fz_file_with_crc(const char *name, const uint8_t *data, size_t n);
/* The folder's path joined with name (nothing written). */
const char *fz_path(const char *name);

#endif
