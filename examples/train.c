/* Example: train a low-bitwidth network with the training API, then export
 * it for the engine.
 *
 *   cc train.c $(pkg-config --cflags --libs dorefa) -o train
 *   ./train [DATA [OPTIONS]]     e.g. ./train /usr/share/datasets/fashion-mnist "bits=1,2,4 epochs=2"
 *
 * Writes model.dorefa (for classify.c, 'dorefa infer', Python's dorefa.load)
 * and model.ckpt (for 'dorefa eval', 'dorefa train --resume', dorefa.torch). */
#include <dorefa_train.h>
#include <stdio.h>

static int show(const dorefa_progress *p, void *user)
{
    (void)user;
    if (p->end_of_epoch)
        printf("epoch %d/%d: train loss %.4f, test accuracy %.2f%% (%.0f images/s)\n", p->epoch, p->epochs,
               p->train_loss, 100 * p->test_accuracy, p->images_per_second);
    return 0; /* non-zero would stop training here */
}

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const char *options = argc > 2 ? argv[2] : "bits=1,2,4 epochs=2";
    dorefa_trainer *t = NULL;
    if (dorefa_trainer_create("default", options, &t) || dorefa_trainer_set_data(t, data) ||
        dorefa_trainer_train(t, 0, show, NULL) || dorefa_trainer_save(t, "model.ckpt") ||
        dorefa_trainer_export(t, "model.dorefa")) {
        fprintf(stderr, "train: %s\n", dorefa_last_error());
        dorefa_trainer_free(t);
        return 1;
    }
    double acc;
    dorefa_trainer_evaluate(t, &acc, NULL);
    printf("test accuracy %.2f%% after %d epochs; wrote model.ckpt and model.dorefa\n", 100 * acc,
           dorefa_trainer_epoch(t));
    dorefa_trainer_free(t);
    return 0;
}
