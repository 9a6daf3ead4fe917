/* MPI for data-parallel training, loaded only under a launcher: Open MPI's
 * libmpi is opened with dlopen when mpirun (or a PMI launcher) started this
 * process, so the binary neither links nor needs it otherwise. */
#ifndef PL_MPI_H
#define PL_MPI_H

#include <stddef.h>

#include "err.h"

/* The number of processes the launcher started (OMPI_COMM_WORLD_SIZE, or
 * PMI_SIZE for PMI launchers), 0 when not started by one. */
int mpi_launched(void);

/* Under a launcher, splits this process into a supervisor and a rank: in
 * the rank (the child, which dies with its supervisor) returns 0; in the
 * supervisor waits for the rank, passes SIGINT and SIGTERM on, and
 * returns 1 with *wait_status the rank's waitpid status, so a rank killed
 * by a signal can still end with an exit code of our choosing. -1 when
 * fork failed (err says why). */
int mpi_supervise(int *wait_status, pl_err *err);

/* Loads libmpi and initialises MPI (funneled threads: only the calling
 * thread calls MPI). PL_ETEMP when the library is missing or MPI fails to
 * start. */
int mpi_init(pl_err *err);

int mpi_rank(void);   /* this process's rank (0 before mpi_init) */
int mpi_size(void);   /* the processes (1 before mpi_init) */

/* Gathers bytes from every rank: all gets size x bytes in rank order. */
int mpi_allgather(const void *local, void *all, size_t bytes, pl_err *err);

/* Sums n floats at buf over the ranks in place (MPI_Allreduce, MPI_SUM):
 * the order of the additions is MPI's, not fixed. */
int mpi_allreduce_sum(float *buf, size_t n, pl_err *err);

/* Copies bytes at buf on rank 0 to every rank. */
int mpi_bcast(void *buf, size_t bytes, pl_err *err);

/* Ends every rank of the job at once with exit code code. */
void mpi_abort(int code);

/* Finalises MPI (when initialised). */
void mpi_finalize(void);

#endif
