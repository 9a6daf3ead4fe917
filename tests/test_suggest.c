/* io/suggest: the nearest name to a word typed wrong, or none. */
#include "check.h"

#include "../io/suggest.h"

/* The suggestion for word among the NULL-terminated names, or NULL. */
static const char *nearest(const char *word, const char *const *names)
{
	static suggestion s;

	suggest_init(&s, word);
	for (int i = 0; names[i]; i++)
		suggest_add(&s, names[i]);
	return suggest_best(&s);
}

static const char *const commands[] = { "run", "stage", "status", "clean", "gc", "synth",
					"predict", "export", "help", NULL };

static void test_edits(void)
{
	const char *got;

	CHECK((got = nearest("statu", commands)) && !strcmp(got, "status"), "%s", got);
	CHECK((got = nearest("stauts", commands)) && !strcmp(got, "status"), "swap: %s", got);
	CHECK((got = nearest("exprot", commands)) && !strcmp(got, "export"), "swap: %s", got);
	CHECK((got = nearest("PREDICT", commands)) && !strcmp(got, "predict"), "case: %s", got);
	CHECK((got = nearest("stag", commands)) && !strcmp(got, "stage"), "%s", got);
}

static void test_far(void)
{
	static const char *const none[] = { NULL };
	const char *got;

	CHECK(!(got = nearest("frobnicate", commands)), "%s", got);
	CHECK(!(got = nearest("anything", none)), "%s", got);
}

static void test_prefix(void)
{
	static const char *const keys[] = { "lr", "epochs", "batch", "workspace", NULL };
	const char *got;

	/* one name starting with the other counts as close, however long */
	CHECK((got = nearest("workspacedir", keys)) && !strcmp(got, "workspace"), "%s", got);
	CHECK((got = nearest("lrate", keys)) && !strcmp(got, "lr"), "%s", got);
	CHECK((got = nearest("work", keys)) && !strcmp(got, "workspace"), "%s", got);
}

int main(void)
{
	RUN(test_edits);
	RUN(test_far);
	RUN(test_prefix);
	return check_report("test_suggest");
}
