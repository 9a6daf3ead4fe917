/* The Redis side of fleet mode: the connection (reconnecting with backoff),
 * the key names and the Lua scripts that move a job between states
 * atomically. Used by the worker, submit and jobs; not by cmd/. */
#ifndef PL_FLEET_QUEUE_H
#define PL_FLEET_QUEUE_H

#include <signal.h>

#include <hiredis/hiredis.h>

#include "../../io/err.h"
#include "fleet.h"

/* The consumer group every worker reads the job stream with. */
#define QUEUE_GROUP "workers"

typedef struct queue {
	redisContext *rc;
	fleet_url url;
	char prefix[128];
	double reconnect_max_s;       /* [queue] reconnect_max_seconds */
	double timeout_s;             /* per command */
	int retry;                    /* reconnect (with backoff) when the connection drops */
	const volatile sig_atomic_t *stop;  /* gives up reconnecting when set */
} queue;

/* Opens q to u under prefix. With retry, a refused connection is retried
 * with backoff until *stop; else PL_ETEMP naming the server. */
int queue_open(queue *q, const fleet_url *u, const fleet_limits *l, int retry,
	       const volatile sig_atomic_t *stop, pl_err *err);
void queue_close(queue *q);

/* Runs one command (argc words); reconnects and retries it when the
 * connection dropped and q->retry is set. A Redis error reply is PL_EIO
 * with its text. Caller frees the reply with freeReplyObject. */
int queue_cmd(queue *q, int argc, const char **argv, redisReply **out, pl_err *err);

/* queue_cmd with the words given as a list ending with QEND. */
#define QEND ((const char *)NULL)
int queue_cmdl(queue *q, redisReply **out, pl_err *err, ...);

/* The scripts (queue.c has each one's arguments). */
typedef enum queue_script {
	QS_SUBMIT, QS_START, QS_HEARTBEAT, QS_FINISH, QS_PROMOTE, QS_CANCEL, QS_REQUEUE
} queue_script;

/* Runs script s with the prefix as its first argument and then args. */
int queue_eval(queue *q, queue_script s, int n, const char **args, redisReply **out,
	       pl_err *err);

/* Writes the key PREFIX:name into out (n bytes). */
void queue_key(const queue *q, char *out, size_t n, const char *name);

/* Creates the consumer group (and the stream) when missing. */
int queue_ensure_group(queue *q, pl_err *err);

/* The current time, seconds since the epoch, as text ("%.3f"). */
void queue_now(char out[32]);
double queue_time(void);

/* The string of reply r (or of element i of an array reply), "" if none. */
const char *queue_str(const redisReply *r);

#endif
