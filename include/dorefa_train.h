/* dorefa training API: train low-bitwidth networks (DoReFa-Net) from a
 * program, as 'dorefa train' does, on a data set folder or on arrays in memory.
 *
 *   dorefa_trainer *t;
 *   if (dorefa_trainer_create("default", "bits=1,2,4 epochs=2 seed=7", &t) ||
 *       dorefa_trainer_set_data(t, "/usr/share/datasets/fashion-mnist") ||
 *       dorefa_trainer_train(t, 0, NULL, NULL) ||
 *       dorefa_trainer_export(t, "model.dorefa")) {
 *       fprintf(stderr, "%s\n", dorefa_last_error());
 *       ...
 *   }
 *   dorefa_trainer_free(t);
 *
 * Options are those of 'dorefa train' (see 'dorefa train --help') written
 * name=value, separated by spaces or newlines: "bits=1,2,4 lr=0.001
 * batch=64 threads=2"; a flag is its name alone ("kernels=float" for an
 * option with a value). A value holding a space or '%' writes it %XX
 * ("out=my%20runs"). Without out=DIR the trainer writes no files; with it,
 * DIR gets what a 'dorefa train' run folder gets (metrics.jsonl, last.ckpt,
 * best.ckpt). Nothing is printed: progress comes through the callback.
 * Functions returning int give DOREFA_OK or an error code (dorefa.h), with
 * dorefa_last_error() then holding a one-line message. A trainer may be used
 * by one thread at a time. Link with `pkg-config --libs dorefa`. */
#ifndef DOREFA_TRAIN_H
#define DOREFA_TRAIN_H

#include "dorefa.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dorefa_trainer dorefa_trainer;

/* A new network from a model file or a shipped model's name ("default",
 * "model-a", ...) with its options; its weights are initialised from the
 * seed once the data is set (the input channels come from the data). */
int dorefa_trainer_create(const char *model, const char *options, dorefa_trainer **trainer);
/* A trainer continuing a checkpoint (its network, optimizer state, options
 * and progress; fresh optimizer moments for a checkpoint saved without
 * them); options may change what 'dorefa train --resume' lets change
 * (epochs, threads, out, ...). */
int dorefa_trainer_open(const char *checkpoint, const char *options, dorefa_trainer **trainer);
void dorefa_trainer_free(dorefa_trainer *trainer);

/* Training and test data from a folder or file, as --data reads it (IDX,
 * CIFAR-10 binary, SVHN .mat, train/ and test/ image folders), resized to
 * the model's input. Replaces any data set before. */
int dorefa_trainer_set_data(dorefa_trainer *trainer, const char *path);
/* Training and test data from memory: n images of height x width x channels
 * uint8 pixels each (HWC, one after another) with labels 0..classes-1; the
 * test set may be empty (test_n 0). The size must be the model's input size;
 * class_names (NULL: none) are one per line. The arrays are copied. */
int dorefa_trainer_set_arrays(dorefa_trainer *trainer, int height, int width, int channels,
                              const unsigned char *train_images, const int *train_labels, int train_n,
                              const unsigned char *test_images, const int *test_labels, int test_n,
                              const char *class_names);

/* Builds the network for images of `channels` channels without data (to
 * read or set its tensors, save or export it); data set later must match. */
int dorefa_trainer_build(dorefa_trainer *trainer, int channels);

/* The network's class names: name i (its number when unnamed; NULL out of
 * range or before the network is built; valid until the names change), and
 * setting them, one per line (the data set's are used otherwise). */
const char *dorefa_trainer_class_name(dorefa_trainer *trainer, int i);
int dorefa_trainer_set_class_names(dorefa_trainer *trainer, const char *names);

/* ---- the network's tensors (the PyTorch bridge uses these) ---------------------------- */

/* The network as text, one line each (NULL before it is built; valid until
 * the next call or dorefa_trainer_free):
 *   net input=H,W,C classes=N bits=W,A,G first=0|1 last=0|1 bounded=cabs|crelu|-
 *   layer type=conv name=conv1 from=-1 in=H,W,C out=H,W,C params=conv1.w,conv1.b state=0
 *         k=3,3 stride=1,1 pad=1,1,1,1 groups=1 bias=1 wbits=1 gbits=4 inbits=2
 * from: the layers read (-1: the image); the other keys are the layer's own:
 * conv/fc geometry and bits (fc: a VALID conv over its whole input), maxpool
 * window and padding (padded cells never win), bn eps and momentum (running
 * = momentum running + (1 - momentum) batch, unbiased variance), act fn and
 * abits (h, then f_a; 32: none), dropout rate; avgpool is global. */
const char *dorefa_trainer_describe(dorefa_trainer *trainer);
/* A tensor by name: a parameter ("conv1.w": [out][kh][kw][in/groups],
 * channels innermost, as tensors are NHWC; "conv1.b"; "bn1.gamma",
 * "bn1.beta") or a layer's state ("bn1.state": running mean then variance).
 * get copies up to cap values into out and returns the count (-1 and a
 * message for an unknown name); set needs exactly the count, finite values. */
long dorefa_trainer_get_tensor(dorefa_trainer *trainer, const char *name, float *out, long cap);
int dorefa_trainer_set_tensor(dorefa_trainer *trainer, const char *name, const float *values, long n);

typedef struct {
    int epoch, epochs;        /* the epoch being trained (1-based) and the run's total     */
    long images_done, images; /* training images of this epoch done so far, and in all    */
    unsigned long long step;  /* optimizer steps taken                                     */
    double train_loss, train_error; /* running means over this epoch                       */
    double test_accuracy, test_loss; /* end_of_epoch: on the test set (0 without one)       */
    double images_per_second;
    int end_of_epoch; /* 0: after an optimizer step; 1: after the epoch's evaluation       */
} dorefa_progress;
/* Called after every optimizer step and after every epoch; a non-zero
 * return stops training there (a later dorefa_trainer_train goes on exactly,
 * as a run resumed mid-epoch does). */
typedef int (*dorefa_progress_fn)(const dorefa_progress *progress, void *user);

/* Trains `epochs` more epochs (0: up to the epochs option's total). */
int dorefa_trainer_train(dorefa_trainer *trainer, int epochs, dorefa_progress_fn progress, void *user);
/* Accuracy and mean loss on the test set, in evaluation mode. */
int dorefa_trainer_evaluate(dorefa_trainer *trainer, double *accuracy, double *loss);
/* Class probabilities of n images (HWC float pixel values 0..255, as
 * dorefa_predict takes them) from the training graph in evaluation mode. */
int dorefa_trainer_predict(dorefa_trainer *trainer, const float *images, int n, float *probs);
/* Epochs completed and optimizer steps taken so far. */
int dorefa_trainer_epoch(const dorefa_trainer *trainer);
unsigned long long dorefa_trainer_step(const dorefa_trainer *trainer);
/* Writes a checkpoint (dorefa eval, dorefa export, --resume and
 * dorefa_trainer_open read it), or a deployment file for the engine
 * (dorefa_load, dorefa infer). */
int dorefa_trainer_save(dorefa_trainer *trainer, const char *checkpoint);
int dorefa_trainer_export(dorefa_trainer *trainer, const char *model_file);
/* The same with the first layer (float weights in training) stored as
 * first_layer says: "int8" (8-bit weights per output channel, run by the
 * engine's integer kernels) or "float"; NULL: the default ('dorefa export
 * --first-layer'). */
int dorefa_trainer_export_first_layer(dorefa_trainer *trainer, const char *model_file, const char *first_layer);
/* The network as an ONNX model (as 'dorefa export --format onnx'). */
int dorefa_trainer_export_onnx(dorefa_trainer *trainer, const char *onnx_file);

#ifdef __cplusplus
}
#endif

#endif
