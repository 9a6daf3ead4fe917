/* Training over MPI ranks (`mpirun -np N pipeline stage train`): the ranks
 * of one job, the agreement on a configuration at start, and the nn hook
 * that gathers every share's partial sums (nn.h, nn_dist). */
#ifndef PL_DIST_H
#define PL_DIST_H

#include <stddef.h>

#include "../io/cfg.h"
#include "../io/err.h"
#include "../nn/nn.h"

/* After mpi_init: makes this process a rank of the training job
 * (train.exact: gradients gathered and added in share order, or summed
 * by one MPI_Allreduce).
 * train.threads is the job's total, N ranks of train.threads / N threads
 * (PL_EUSAGE when it does not divide; 0 becomes N x this rank's CPUs), so
 * the effective configuration and the stage's fingerprint are those of
 * one process with as many threads: a rerun with another rank count and
 * the same total resumes its checkpoint, and `pipeline run` afterwards
 * finds the stage cached. Ranks other than 0 log warnings and errors
 * only, prefixed with their rank. */
int dist_setup(cfg *c, pl_err *err);

/* 0 and 1 when the process is not a rank of a training job. */
int dist_rank(void);
int dist_size(void);

/* Rank 0 tells the others whether it trains (*go 1: the stage runs) or
 * not (*go 0: cached, or failed before training); the others get *go.
 * Only the first call exchanges; later ones give its answer. */
int dist_go(int *go, pl_err *err);

/* Every rank hashes its effective configuration; a rank whose hash is not
 * rank 0's makes every rank fail with PL_EUSAGE naming it. */
int dist_agree(const cfg *c, pl_err *err);

/* Makes net this rank's part of the job (nn_set_dist) and copies rank 0's
 * weights and optimiser state to every rank (after rank 0 resumed). */
int dist_attach(nn_net *net, pl_err *err);

/* Copies bytes at buf of rank 0 to every rank. */
int dist_bcast(void *buf, size_t bytes, pl_err *err);

/* Compares a SHA-256 of the weights and BN statistics across ranks;
 * PL_EFAIL naming the first rank that differs from rank 0 after epoch. */
int dist_check_weights(const nn_net *net, int epoch, pl_err *err);

/* What the reductions cost since the start (for the log and `make bench`). */
typedef struct dist_stats {
	size_t param_bytes;      /* the weights: what an allreduce would sum */
	size_t step_bytes;       /* reduced per step: every share's gradient block
	                            gathered (exact), or one block summed */
	int exact;               /* train.exact: gather, or MPI_Allreduce */
	long steps;              /* gradient reductions: one per optimiser step */
	double grad_seconds;     /* spent in them */
	long other_gathers;      /* batch-norm statistics and evaluation losses */
	double other_seconds;
} dist_stats;
dist_stats dist_traffic(void);

#endif
