/* Progressive quantization (Zhuang et al.): stages of (bits, epochs), each
 * starting from the previous stage's weights. */
#ifndef DR_SCHEDULE_H
#define DR_SCHEDULE_H

#include "../quant/bits.h"

#define DR_MAX_STAGES 8
typedef struct {
    int n;
    dr_bits bits[DR_MAX_STAGES];
    int epochs[DR_MAX_STAGES];
} dr_schedule;

/* Parses "1,32,32:3;1,2,4:3" (scheme a: weights first) or "8,8,8:2;4,4,4:2;2,2,4:2"
 * (scheme b: falling bitwidths). */
int dr_schedule_parse(const char *text, dr_schedule *s);
/* Stage (0-based) that epoch (0-based) belongs to. */
int dr_schedule_stage(const dr_schedule *s, int epoch);
int dr_schedule_epochs(const dr_schedule *s);
/* First epoch (0-based) of a stage. */
int dr_schedule_stage_start(const dr_schedule *s, int stage);

#endif
