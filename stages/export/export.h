/* Manifests that run the stages in containers on a cluster: Kubeflow
 * component specs, an Argo Workflow and plain Kubernetes Jobs, as JSON. */
#ifndef PL_EXPORT_H
#define PL_EXPORT_H

#include "../../io/err.h"

/* Where the image keeps the default configuration (the Dockerfile copies
 * pipeline.ini there and sets PIPELINE_CONFIG to it). */
#define EXPORT_CONFIG_PATH "/etc/pipeline/pipeline.ini"
/* The numeric user and group the image runs as (Dockerfile USER). */
#define EXPORT_UID 10001
/* Workspaces are mounted at EXPORT_MOUNT_ROOT/<workspace_name>. */
#define EXPORT_MOUNT_ROOT "/workspace"
#define EXPORT_MAX_SHARDS 256
/* Longest workspace name: it goes into Job names, which must stay within
 * the 63 characters of a label value. */
#define EXPORT_MAX_NAME 40

/* Everything the manifests depend on. Strings are borrowed (the caller keeps
 * them alive during export_write); "" means "not set" for optional ones. */
typedef struct export_opts {
	const char *image;           /* container image to run; required */
	const char *namespace_name;  /* "" = the namespace kubectl/argo is given */
	const char *pvc;             /* PersistentVolumeClaim holding workspaces */
	const char *workspace_name;  /* directory on the claim (the subPath) */
	const char *storage;         /* size of the claim (k8s), e.g. "10Gi" */
	const char *storage_class;   /* "" = the cluster's default class */
	const char *cpu;             /* cpu request per container, e.g. "2" */
	const char *memory;          /* memory request per container, "2Gi" */
	const char *cpu_limit;       /* "" = no cpu limit */
	const char *memory_limit;    /* "" = the memory request */
	const char *service_account; /* "" = the namespace's default */
	const char *config;          /* config file path inside the container */
	const char *set;             /* overrides "sec.key=value;..." or "" */
	int shards;                  /* prepare shards, 1..EXPORT_MAX_SHARDS */
	int workers;                 /* MPIJob workers (argo: 0 = train in one pod) */
	int slots_per_worker;        /* MPI ranks per worker, 1..EXPORT_MAX_SLOTS */
	/* worker: the fleet's queue ([queue] section) and the pool's size */
	const char *queue_url;       /* redis://HOST[:PORT][/DB]; required for worker */
	const char *queue_prefix;    /* key prefix [pipeline] */
	double lease_s, grace_s;     /* [queue] lease_seconds, grace_seconds */
	int max_workers;             /* KEDA maxReplicaCount [10] */
} export_opts;

#define EXPORT_MAX_WORKERS 1024
#define EXPORT_MAX_SLOTS 256

/* Fills o with the defaults: image unset, pvc "pipeline-workspace",
 * workspace "demo", storage "10Gi", cpu "2", memory "4Gi", 4 shards,
 * no MPIJob workers, 1 slot per worker,
 * config EXPORT_CONFIG_PATH, the rest empty. */
void export_defaults(export_opts *o);

/* Checks every setting (names are valid Kubernetes names, quantities parse,
 * shards in range ...); PL_EUSAGE with a message naming the setting. */
int export_check(const export_opts *o, pl_err *err);

/* Writes the manifests of kind ("kfp", "argo", "k8s", "mpijob": a Kubeflow
 * MPIJob training over o->workers pods, or "worker": a worker Deployment and
 * a KEDA ScaledObject on the job stream's lag) as indented JSON.
 * out: NULL or "-" = stdout (not for kfp); an existing directory or a path
 * ending in '/' = one file per object in that directory (created if
 * missing; kfp always takes a directory); anything else = one file (for
 * k8s a v1 List). Files are replaced atomically. Returns 0, or PL_EUSAGE
 * for bad settings, PL_EIO when writing fails. */
int export_write(const char *kind, const export_opts *o, const char *out,
		 pl_err *err);

#endif
