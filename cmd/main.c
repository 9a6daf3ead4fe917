/* pipeline: the command table and what every command shares (help, errors,
 * exit codes). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../io/log.h"
#include "../io/version.h"
#include "../stages/schema.h"
#include "cmd.h"

typedef struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
	const char *usage;
} command;

static const command commands[] = {
	{ "run", cmd_run, "run the stages in order, skipping those already done",
	  "usage: pipeline run --workspace DIR [--config FILE] [--set sec.key=value]...\n"
	  "                    [--from STAGE] [--until STAGE] [--force STAGE|all] [--dry-run]\n"
	  "                    [--log-format human|json] [--quiet] [--verbose]\n\n"
	  "Runs prepare, train, validate and package. A stage whose inputs and\n"
	  "configuration have not changed since its last run is cached and skipped.\n\n"
	  "  -w, --workspace DIR   workspace directory (or PIPELINE_WORKSPACE)\n"
	  "  -c, --config FILE     configuration (or PIPELINE_CONFIG; default ./pipeline.ini)\n"
	  "  -s, --set S.K=V       override a configuration key; repeatable, or several\n"
	  "                        separated by ';' (as PIPELINE_SET=\"a.b=1;c.d=2\")\n"
	  "      --from STAGE      start at STAGE (earlier stages must be done)\n"
	  "      --until STAGE     stop after STAGE\n"
	  "      --force STAGE|all run STAGE (or every stage) even when cached\n"
	  "  -n, --dry-run         say what would run and why, run nothing\n"
	  "      --log-format F    human (default on a terminal) or json (one object per line)\n"
	  "  -q, --quiet           only warnings and errors\n"
	  "  -v, --verbose         debug lines too\n\n"
	  "Exit codes: 0 done or cached, 1 a stage failed, 2 usage or configuration error,\n"
	  "3 the validation gate was not met, 75 temporary failure (retry), 130 interrupted.\n" },
	{ "stage", cmd_stage, "run one stage (the container entrypoint)",
	  "usage: pipeline stage NAME --workspace DIR [--config FILE] [--set sec.key=value]...\n"
	  "                      [--force] [--shard I/N] [--log-format human|json]\n\n"
	  "Runs one stage; its upstream stages must be done. Exits 0 when the stage is\n"
	  "done or cached, so a retried container does no work twice; while another\n"
	  "process holds the workspace it waits. Reads PIPELINE_WORKSPACE,\n"
	  "PIPELINE_CONFIG, PIPELINE_SET and PIPELINE_LOG_FORMAT; with PIPELINE_UI_DIR\n"
	  "set, validate copies its two Kubeflow UI files there (passed, cached or\n"
	  "below the gate). Logs JSON lines by default when stderr is not a terminal.\n"
	  "Stages: prepare, train, validate, package.\n\n"
	  "  --shard I/N   prepare only: do share I (0 .. N-1) of the samples into a part\n"
	  "                of its own, so that N processes (an Indexed Job's pods) share\n"
	  "                the work over one workspace, without the workspace lock. With\n"
	  "                --shard /N, I is taken from JOB_COMPLETION_INDEX. A part already\n"
	  "                done exits 0 at once. `pipeline stage prepare` without --shard\n"
	  "                (or `pipeline run`) then assembles the parts, doing any missing\n"
	  "                one itself; the result equals a single-process prepare.\n" },
	{ "status", cmd_status, "show what is done, cached, stale or failed, and why",
	  "usage: pipeline status --workspace DIR [--config FILE] [--set sec.key=value]... [--json]\n\n"
	  "For each stage: its state (cached, stale, never run, failed) and the reason\n"
	  "(\"config changed: train.lr 0.01 -> 0.02\", \"upstream prepare changed\",\n"
	  "\"interrupted; a checkpoint resumes it after epoch 4 of 10\"), when it\n"
	  "finished, how long it took, and its headline metrics.\n" },
	{ "clean", cmd_clean, "remove stage results and temporary files",
	  "usage: pipeline clean --workspace DIR [STAGE...]\n"
	  "       pipeline clean --workspace DIR --downloads\n\n"
	  "Removes the results of the named stages (all when none is named) and the\n"
	  "workspace's temporary files. Downloads are kept unless all stages are cleaned\n"
	  "with --downloads.\n" },
	{ "gc", cmd_gc, "remove what the current configuration cannot use",
	  "usage: pipeline gc --workspace DIR [--config FILE] [--set sec.key=value]...\n\n"
	  "Removes temporary files no stage will resume from, downloads of sources that\n"
	  "are no longer configured, and the memoised hashes of input files. Stage\n"
	  "results are kept ('pipeline clean' removes those).\n" },
	{ "synth", cmd_synth, "draw the built-in demo plate",
	  "usage: pipeline synth --out FILE|DIR [--seed N] [--plates N] [--size WxH] [--preview PNG]\n\n"
	  "Draws a BBBC014-like plate: 96 wells, two 8-bit channel BMPs per well (nuclei,\n"
	  "NF-kB) with a TNF-alpha dose response across the 12 columns, two cell lines,\n"
	  "and plate/metadata.csv. The same seed gives byte-identical output.\n\n"
	  "  -o, --out FILE|DIR  a .tar.gz or .tar.zst archive, or DIR/ (gets DIR/plate/)\n"
	  "      --seed N        default 1\n"
	  "      --plates N      default 1 (wells named p01_A01 ...)\n"
	  "      --size WxH      image size per channel, default 340x256\n"
	  "      --preview PNG   also write three wells (low, middle, high dose) as one PNG\n" },
	{ "predict", cmd_predict, "classify images with a package",
	  "usage: pipeline predict --package FILE [IMAGE|DIR...] [--format json|csv]\n"
	  "                        [--channels a.bmp,b.bmp]...\n\n"
	  "Prints one JSON object per image: {\"file\", \"label\", \"scores\": {class: p}}.\n"
	  "A directory is searched recursively for PNG, JPEG and BMP files; the images\n"
	  "go through the network in batches, and the output is in path order. With no\n"
	  "IMAGE, reads one image on stdin (the OpenFaaS classic watchdog's contract).\n"
	  "A model whose samples stack several channel files takes each sample as\n"
	  "--channels a,b, or as one image (file or stdin) whose channels are the\n"
	  "model's channels in order: gray+alpha for two, RGBA for four; an RGB image\n"
	  "for a two-channel model gives its G and B channels. An image of exactly the\n"
	  "network's input size is taken as one tile. An image that cannot be read or\n"
	  "does not fit the model is reported on stderr and the others are still\n"
	  "predicted; the exit code is then that of the first failure (1 for an\n"
	  "unreadable or corrupt image).\n\n"
	  "  -p, --package FILE   the package (or PIPELINE_PACKAGE)\n"
	  "  -f, --format F       json (default) or csv\n"
	  "  -c, --channels A,B   the channel files of one sample; repeatable\n" },
	{ "export", cmd_export, "write Kubeflow, Argo or Kubernetes manifests", export_usage },
	{ "help", cmd_help, "show help for a command", "usage: pipeline help [COMMAND]\n" },
};

#define N_COMMANDS (int)(sizeof(commands) / sizeof(commands[0]))

static void print_overview(FILE *f)
{
	fprintf(f, "usage: pipeline COMMAND [OPTIONS]\n\n"
		"Turns a labelled image collection into a validated, servable CNN classifier\n"
		"in four cached stages: prepare, train, validate, package.\n\ncommands:\n");
	for (int i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'pipeline help COMMAND' shows the options of one command; "
		"'pipeline help config' the configuration keys.\n");
}

int cmd_print_help(const char *name)
{
	for (int i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, name)) {
			fputs(commands[i].usage, stdout);
			return EXIT_OK;
		}
	fprintf(stderr, "pipeline: no command '%s'\n", name);
	print_overview(stderr);
	return EXIT_USAGE;
}

int cmd_fail(const pl_err *err)
{
	const char *msg = err->msg[0] ? err->msg : "unknown error";

	if (log_get_format() == LOG_JSON)   /* log collectors keep the line that matters */
		log_error("%s", msg);
	else
		fprintf(stderr, "pipeline: error: %s\n", msg);
	switch (err->code) {
	case PL_EUSAGE: return EXIT_USAGE;
	case PL_EGATE: return EXIT_GATE;
	case PL_ETEMP: return EXIT_TEMP;
	case PL_EINTR: return EXIT_INTR;
	default: return EXIT_FAIL;
	}
}

/* Prints the message, the command's synopsis (its usage text up to the
 * first blank line) and where the rest is. */
int cmd_getopt_error(const char *cmd, int code, int argc, char **argv)
{
	const char *word = optind >= 2 && optind - 1 < argc ? argv[optind - 1] : "";
	char shown[64];

	if (!strncmp(word, "--", 2))
		snprintf(shown, sizeof(shown), "%.*s", (int)strcspn(word, "="), word);
	else
		snprintf(shown, sizeof(shown), "-%c", optopt > 32 && optopt < 127 ? optopt : '?');
	return cmd_usage_error(cmd, code == ':' ? "option '%s' needs a value" :
			       "unknown option '%s'", shown);
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pipeline %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (int i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, cmd)) {
			const char *end = strstr(commands[i].usage, "\n\n");
			int len = end ? (int)(end - commands[i].usage) : (int)strlen(commands[i].usage);
			fprintf(stderr, "%.*s\n", len, commands[i].usage);
		}
	fprintf(stderr, "try 'pipeline help %s'\n", cmd);
	return EXIT_USAGE;
}

int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		print_overview(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "config")) {
		schema_write_reference(stdout);
		return EXIT_OK;
	}
	return cmd_print_help(argv[1]);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_overview(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("pipeline %s\n", PL_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		print_overview(stdout);
		return EXIT_OK;
	}
	for (int i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].name, argv[1]))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "pipeline: unknown command '%s'\n\n", argv[1]);
	print_overview(stderr);
	return EXIT_USAGE;
}
