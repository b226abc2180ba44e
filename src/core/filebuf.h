/* Building and writing the sectioned binary files of checkpoints and
 * deployment models: a growable byte buffer, 4-byte-tagged sections with a
 * u64 length, little-endian integers, atomic replacement on disk. */
#ifndef DR_FILEBUF_H
#define DR_FILEBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t len, cap;
} dr_filebuf;

void dr_put(dr_filebuf *b, const void *data, size_t n);
static inline void dr_put_u8(dr_filebuf *b, uint8_t v) { dr_put(b, &v, 1); }
static inline void dr_put_u16(dr_filebuf *b, uint16_t v) { dr_put(b, &v, 2); }
static inline void dr_put_u32(dr_filebuf *b, uint32_t v) { dr_put(b, &v, 4); }
static inline void dr_put_u64(dr_filebuf *b, uint64_t v) { dr_put(b, &v, 8); }
/* Starts a section (tag, length to be filled); returns its start. */
size_t dr_begin_section(dr_filebuf *b, const char tag[4]);
void dr_end_section(dr_filebuf *b, size_t start);
/* Appends the CRC-32 of everything so far. */
void dr_put_crc(dr_filebuf *b);
/* Writes the file through a temporary in the same folder (PATH.tmpPID.N,
 * mode 0666 less the umask), fsync, rename, fsync of the folder. */
int dr_write_atomic(const char *path, const uint8_t *data, size_t len);
/* Removes the temporaries that processes no longer running left in dir (a
 * write cut short by kill -9 or a crash). */
void dr_remove_stale_temps(const char *dir);

static inline uint64_t dr_get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t dr_get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
/* A fingerprint of any number of bytes: their CRC-32 (over 1 GiB pieces: zlib
 * counts in 32 bits) with the length above it. */
uint64_t dr_fingerprint(const void *p, size_t len);
/* True when the last 4 bytes are the CRC-32 of the rest. */
int dr_crc_ok(const uint8_t *p, size_t len);

/* Starts a file: magic, version, section count. */
void dr_put_header(dr_filebuf *b, const char magic[8], uint32_t version, uint32_t sections);

/* One section of a file read with dr_read_sections. */
typedef struct {
    char tag[4];
    size_t off, len; /* bytes of its contents within the file */
} dr_section;

/* A kind of sectioned file, for reading and for messages. */
typedef struct {
    char magic[8];
    const char *name;        /* "checkpoint", "model file"                       */
    const char *magic_hint;  /* added to the bad-magic message                    */
    uint32_t oldest, newest; /* the versions this dorefa reads                    */
    const char *too_old;     /* added to the message for a version below oldest   */
} dr_file_kind;

/* Verifies a whole file (magic, version, CRC-32, section table) and lists up
 * to cap sections; returns their count (and the file's version), or -1 with
 * a one-line error naming the path. */
int dr_read_sections(const char *path, const uint8_t *p, size_t len, const dr_file_kind *kind, uint32_t *version,
                     dr_section *sec, int cap);

#endif
