/* pipeline verify: check every file of a package against its manifest
 * (predict checks only the files it reads). */
#include <getopt.h>
#include <stdio.h>

#include "../stages/serve/serve.h"
#include "cmd.h"

int cmd_verify(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	pl_err err = { 0 };
	int opt, n_files;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == 'h')
			return cmd_print_help("verify");
		return cmd_getopt_error("verify", opt, argc, argv, options);
	}
	if (optind == argc)
		return cmd_usage_error("verify", "name the package(s) to verify");
	for (int i = optind; i < argc; i++) {
		if (serve_verify(argv[i], &n_files, &err) < 0)
			return cmd_fail(&err);
		printf("%s: ok, %d files match MANIFEST.json\n", argv[i], n_files);
	}
	return EXIT_OK;
}
