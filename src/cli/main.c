/* dorefa: train and run low-bitwidth convolutional networks (DoReFa-Net). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/common.h"
#include "dist/dist.h"
#include "kernels/bitgemm.h"

#include <signal.h>
#include <stdlib.h>

/* The library aborts when memory runs out; the command exits with 70 (EX_SOFTWARE). */
static void out_of_memory(size_t bytes)
{
    fprintf(stderr, "dorefa: out of memory (asked for %zu bytes)\n", bytes);
    exit(70);
}

static const char USAGE[] =
    "usage: dorefa COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  train     train a network on a data set\n"
    "  eval      evaluate a checkpoint\n"
    "  sweep     train one model at several bitwidths, write Table 1\n"
    "  export    write a compact deployment file of a checkpoint\n"
    "  infer     run a deployment file on images or a data set\n"
    "  bench     measure throughput (bench train, bench kernels, bench infer)\n"
    "\n"
    "'dorefa COMMAND --help' describes each command.\n";

int main(int argc, char **argv)
{
    dr_set_oom_handler(out_of_memory);
    signal(SIGXFSZ, SIG_IGN); /* past a file size limit, write() fails with EFBIG and the error is reported */
    if (dr_bitgemm_select_from_env()) {
        fprintf(stderr, "dorefa: %s\n", dr_last_error());
        return EXIT_USAGE;
    }
    if (argc < 2) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(USAGE, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        puts("dorefa " DOREFA_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "train")) {
        if (dr_dist_launched() && !dr_dist_available()) {
            fprintf(stderr, "dorefa: started by mpirun, but this dorefa was built without MPI: every process would "
                            "train alone; install libopenmpi-dev and build again\n");
            return EXIT_FAIL;
        }
        if (dr_dist_launched() && !(cli_group = dr_dist_start(&argc, &argv))) return cli_error();
        int rc = cmd_train(argc - 1, argv + 1);
        dr_dist_finish(cli_group); /* every rank ended alike (a failure of one alone aborts them all) */
        return rc;
    }
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "infer")) return cmd_infer(argc - 1, argv + 1);
    if (!strcmp(cmd, "sweep")) return cmd_sweep(argc - 1, argv + 1);
    fprintf(stderr, "dorefa: unknown command '%s'\n%s", cmd, USAGE);
    return EXIT_USAGE;
}
