/* Adam and SGD with momentum, with L2 weight decay per parameter. */
#ifndef DR_OPTIM_H
#define DR_OPTIM_H

#include <stdint.h>

#include "../model/net.h"

enum { DR_OPT_ADAM, DR_OPT_SGD };

typedef struct {
    int kind;
    float lr;
    float beta1, beta2, eps; /* Adam                        */
    float momentum;          /* SGD                         */
    float lr_decay;          /* staircase: lr * decay^floor(epoch / every) */
    int lr_decay_every;      /* epochs; 0: constant         */
    float weight_decay;      /* L2 for weights whose layer gives no l2= */
} dr_optim_config;

/* The moments are two arenas laid out as the network's parameters: the
 * moments of parameter p start at p->offset. */
typedef struct {
    dr_optim_config cfg;
    size_t size;    /* floats per arena (the network's params_size); 0: not initialised */
    float *m, *v;   /* first and second moments (SGD uses m as velocity) */
    uint64_t t;     /* update count (Adam bias correction) */
} dr_optim;

void dr_optim_defaults(dr_optim_config *c);
void dr_optim_init(dr_optim *o, const dr_optim_config *cfg, dr_net *net);
void dr_optim_free(dr_optim *o);
float dr_optim_lr(const dr_optim_config *c, int epoch);
void dr_optim_step(dr_optim *o, dr_net *net, float lr);

#endif
