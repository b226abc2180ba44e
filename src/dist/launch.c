/* What the launcher tells a process through its environment (MPI or not). */
#include <stdlib.h>

#include "dist.h"

static int env_int(const char *name)
{
    const char *v = getenv(name);
    return v ? atoi(v) : 0;
}

int dr_dist_launched(void)
{
    return env_int("OMPI_COMM_WORLD_SIZE") > 1 || env_int("PMI_SIZE") > 1 || env_int("PMIX_SIZE") > 1 ||
           env_int("MPI_LOCALNRANKS") > 1;
}

int dr_dist_local_ranks(void)
{
    int n = env_int("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (n < 1) n = env_int("MPI_LOCALNRANKS");
    return n < 1 ? 1 : n;
}
