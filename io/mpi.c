/* Open MPI through dlopen. Its handles (MPI_COMM_WORLD, MPI_BYTE) are the
 * addresses of objects libmpi exports (ompi_mpi_comm_world ...), and its
 * functions take them as pointers, so they are declared here as void *:
 * this is Open MPI's ABI (libmpi.so.40, Open MPI 3 to 5), not MPICH's. */
#include "mpi.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define OMPI_THREAD_FUNNELED 1
#define MPI_IN_PLACE_OMPI ((void *)1)   /* Open MPI's MPI_IN_PLACE */

typedef void *mpi_handle;

static struct {
	int (*init_thread)(int *argc, char ***argv, int required, int *provided);
	int (*comm_rank)(mpi_handle comm, int *rank);
	int (*comm_size)(mpi_handle comm, int *size);
	int (*allgather)(const void *send, int send_count, mpi_handle send_type, void *recv,
			 int recv_count, mpi_handle recv_type, mpi_handle comm);
	int (*bcast)(void *buf, int count, mpi_handle type, int root, mpi_handle comm);
	int (*allreduce)(const void *send, void *recv, int count, mpi_handle type, mpi_handle op,
			 mpi_handle comm);
	int (*abort)(mpi_handle comm, int code);
	int (*finalize)(void);
	mpi_handle world, byte, flt, sum;
	int rank, size, up;
} lm = { .size = 1 };

static pid_t rank_pid;

int mpi_launched(void)
{
	const char *n = getenv("OMPI_COMM_WORLD_SIZE");

	if (!n || !*n)
		n = getenv("PMI_SIZE");
	return n && *n ? atoi(n) : 0;
}

static void pass_signal(int sig)
{
	if (rank_pid > 0)
		kill(rank_pid, sig);
}

int mpi_supervise(int *wait_status, pl_err *err)
{
	struct sigaction sa;
	pid_t parent = getpid();

	rank_pid = fork();
	if (rank_pid < 0)
		return pl_errorf(err, PL_ETEMP, "cannot start the rank process: %s", strerror(errno));
	if (rank_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)   /* the supervisor died before prctl */
			_exit(75);
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pass_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (waitpid(rank_pid, wait_status, 0) < 0)
		if (errno != EINTR)
			return pl_errorf(err, PL_ETEMP, "cannot wait for the rank process: %s",
					 strerror(errno));
	return 1;
}

static int load(pl_err *err)
{
	/* RTLD_GLOBAL: Open MPI's own plugins resolve libmpi's symbols */
	void *h = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);

	if (!h)
		return pl_errorf(err, PL_ETEMP, "started by an MPI launcher, but cannot load Open "
				 "MPI: %s (install openmpi-bin, or set train.distributed = off)",
				 dlerror());
	*(void **)&lm.init_thread = dlsym(h, "MPI_Init_thread");
	*(void **)&lm.comm_rank = dlsym(h, "MPI_Comm_rank");
	*(void **)&lm.comm_size = dlsym(h, "MPI_Comm_size");
	*(void **)&lm.allgather = dlsym(h, "MPI_Allgather");
	*(void **)&lm.bcast = dlsym(h, "MPI_Bcast");
	*(void **)&lm.allreduce = dlsym(h, "MPI_Allreduce");
	*(void **)&lm.abort = dlsym(h, "MPI_Abort");
	*(void **)&lm.finalize = dlsym(h, "MPI_Finalize");
	lm.world = dlsym(h, "ompi_mpi_comm_world");
	lm.byte = dlsym(h, "ompi_mpi_byte");
	lm.flt = dlsym(h, "ompi_mpi_float");
	lm.sum = dlsym(h, "ompi_mpi_op_sum");
	if (!lm.init_thread || !lm.comm_rank || !lm.comm_size || !lm.allgather || !lm.bcast ||
	    !lm.allreduce || !lm.abort || !lm.finalize || !lm.world || !lm.byte || !lm.flt || !lm.sum)
		return pl_errorf(err, PL_ETEMP, "libmpi.so.40 lacks an MPI function or handle "
				 "(Open MPI is needed; MPICH is not supported)");
	return 0;
}

int mpi_init(pl_err *err)
{
	int provided = 0, rc;

	if (lm.up)
		return 0;
	if ((rc = load(err)) < 0)
		return rc;
	if (lm.init_thread(NULL, NULL, OMPI_THREAD_FUNNELED, &provided) != 0 ||
	    lm.comm_rank(lm.world, &lm.rank) != 0 || lm.comm_size(lm.world, &lm.size) != 0)
		return pl_errorf(err, PL_ETEMP, "MPI failed to start");
	lm.up = 1;
	return 0;
}

int mpi_rank(void) { return lm.rank; }
int mpi_size(void) { return lm.size; }

int mpi_allgather(const void *local, void *all, size_t bytes, pl_err *err)
{
	if (bytes > INT_MAX)
		return pl_errorf(err, PL_EUSAGE, "cannot gather %zu bytes in one call", bytes);
	if (lm.allgather(local, (int)bytes, lm.byte, all, (int)bytes, lm.byte, lm.world) != 0)
		return pl_errorf(err, PL_ETEMP, "MPI_Allgather of %zu bytes failed", bytes);
	return 0;
}

int mpi_allreduce_sum(float *buf, size_t n, pl_err *err)
{
	if (n > INT_MAX)
		return pl_errorf(err, PL_EUSAGE, "cannot sum %zu floats in one call", n);
	if (lm.allreduce(MPI_IN_PLACE_OMPI, buf, (int)n, lm.flt, lm.sum, lm.world) != 0)
		return pl_errorf(err, PL_ETEMP, "MPI_Allreduce of %zu floats failed", n);
	return 0;
}

int mpi_bcast(void *buf, size_t bytes, pl_err *err)
{
	if (bytes > INT_MAX)
		return pl_errorf(err, PL_EUSAGE, "cannot broadcast %zu bytes in one call", bytes);
	if (lm.bcast(buf, (int)bytes, lm.byte, 0, lm.world) != 0)
		return pl_errorf(err, PL_ETEMP, "MPI_Bcast of %zu bytes failed", bytes);
	return 0;
}

void mpi_abort(int code)
{
	if (lm.up)
		lm.abort(lm.world, code);
	_exit(code);
}

void mpi_finalize(void)
{
	if (lm.up)
		lm.finalize();
	lm.up = 0;
}
