# pipeline: build, run the demo, test.  `make run` and `make test` install
# missing Debian packages first (scripts/install-deps.sh).

PKGS     := libarchive libzstd inih libpng jansson nettle libjpeg zlib freetype2 libprotobuf-c hiredis
# libcurl is opened with dlopen when a URL is fetched (io/fetch.c): only its
# headers are needed at build time.
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
# libmicrohttpd likewise, when `pipeline serve` starts (stages/serve/mhd.c):
# linked, it and GnuTLS's libraries slowed every cold process's start.
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
# The serial OpenBLAS: nn/ runs its own threads over single-threaded GEMMs, and
# the pthread build would start (and spin) a thread pool in every process.
BLAS_PC  := /usr/lib/$(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-serial/pkgconfig
BLAS_DIR := $(shell PKG_CONFIG_PATH=$(BLAS_PC) pkg-config --variable=libdir openblas 2>/dev/null)
B        ?= build
CC       ?= cc
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
SANFLAGS ?=
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -march=x86-64-v2 \
	-MMD -MP $(SANFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CURL_CFLAGS) $(MHD_CFLAGS) \
	$(shell PKG_CONFIG_PATH=$(BLAS_PC) pkg-config --cflags openblas 2>/dev/null)
# The binary links it statically: the shared one cost every cold process
# (predict) ~5 ms in the loader (libgfortran's relocations, and its RPATH made
# every library lookup probe the hwcaps directories). Tests link the shared
# one, which keeps them small.
BLAS_BIN := $(BLAS_DIR)/libopenblas.a
BLAS_SO  := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDFLAGS  += $(SANFLAGS)

LIB_SRC  := $(sort $(wildcard io/*.c nn/*.c stages/*.c stages/*/*.c))
CMD_SRC  := $(sort $(wildcard cmd/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
# Formats written with protobuf-c (model.onnx: stages/serve/onnx.proto, the
# pinned ONNX 1.12 definition): each *.proto beside the code that uses it is
# compiled by protoc-c at build time into $(GEN).
PROTOS   := $(sort $(wildcard io/*.proto stages/*.proto stages/*/*.proto))
GEN      := $(B)/gen
GEN_C    := $(patsubst %.proto,$(GEN)/%.pb-c.c,$(notdir $(PROTOS)))
LIB_OBJ  += $(GEN_C:.c=.o)
override CFLAGS += -I$(GEN)
vpath %.proto $(sort $(dir $(PROTOS)))
CMD_OBJ  := $(CMD_SRC:%.c=$(B)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
BIN      := $(B)/pipeline
WS       ?= workspace/demo

.SECONDARY:
.PHONY: all deps test-deps bench-deps run test check asan bench clean fuzz lint crash valgrind

all: pipeline

pipeline: $(BIN)
	@[ "$(B)" != build ] || cp $(BIN) pipeline

$(BIN): $(CMD_OBJ) $(B)/libpipeline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(BLAS_BIN) -lm -lpthread

$(B)/libpipeline.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: %.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) --proto_path=$(dir $<) $<
$(GEN)/%.pb-c.o: $(GEN)/%.pb-c.c | $(GEN_C)
	$(CC) $(CFLAGS) -Wno-unused-parameter -c -o $@ $<
# sources (and generated files: one header may include another) include the
# generated headers: they exist before anything compiles
$(LIB_SRC:%.c=$(B)/%.o) $(CMD_OBJ): | $(GEN_C)

$(B)/tests/%: $(B)/tests/%.o $(B)/libpipeline.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(BLAS_SO) -lm -lpthread

deps:
	@scripts/install-deps.sh build
test-deps:
	@scripts/install-deps.sh test
bench-deps:
	@scripts/install-deps.sh bench

run: deps
	@$(MAKE) --no-print-directory pipeline
	./pipeline run --workspace $(WS)

# Builds everything, then runs every test; the last line is "N passed, N failed".
test: test-deps
	@$(MAKE) --no-print-directory pipeline tests-built
	@tests/run.sh $(B)

tests-built: $(BIN) $(TESTS)

asan: test-deps
	@$(MAKE) --no-print-directory B=build-asan CC=clang OPT=-O1 \
		SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		tests-built
	@ASAN_OPTIONS=detect_leaks=1 tests/run.sh build-asan

bench: bench-deps
	@$(MAKE) --no-print-directory pipeline
	@scripts/bench.sh

# Crash consistency, long form: 200 SIGKILLs spread over every stage.
crash: test-deps
	@$(MAKE) --no-print-directory pipeline
	@PIPELINE=$(CURDIR)/$(BIN) tests/crash/crash.sh 200

# Valgrind memcheck of a scaled-down demo run, its cached rerun and predict.
valgrind: test-deps
	@$(MAKE) --no-print-directory pipeline
	@PIPELINE=$(CURDIR)/$(BIN) scripts/valgrind.sh

# Every libFuzzer target in tests/fuzz for FUZZ_SECONDS each (ASan + UBSan).
FUZZ_SECONDS ?= 20
fuzz: test-deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# Static analysis: cppcheck's warning and portability checks, and a chosen
# set of clang-tidy checks (memory misuse, unsafe string calls, system(),
# signal handlers, suspicious memset/memcmp), over the sources.
TIDY_CHECKS := -*,bugprone-suspicious-memset-usage,bugprone-suspicious-memory-comparison,\
bugprone-signal-handler,bugprone-infinite-loop,bugprone-misplaced-widening-cast,\
bugprone-too-small-loop-variable,bugprone-unused-return-value,bugprone-posix-return,\
bugprone-bool-pointer-implicit-conversion,cert-env33-c,cert-str34-c,cert-msc32-c,\
clang-analyzer-unix.Malloc,clang-analyzer-unix.MismatchedDeallocator,\
clang-analyzer-security.insecureAPI.*,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling
lint: $(GEN_C)
	cppcheck --quiet --enable=warning,portability --inline-suppr --error-exitcode=1 \
		-D_GNU_SOURCE --std=c11 cmd io nn stages
	clang-tidy --quiet --warnings-as-errors='*' -checks='$(TIDY_CHECKS)' \
		$(sort $(wildcard cmd/*.c io/*.c nn/*.c stages/*.c stages/*/*.c)) -- \
		-std=c11 -D_GNU_SOURCE -I$(GEN) $(shell pkg-config --cflags $(PKGS) libcurl libmicrohttpd 2>/dev/null) \
		$(shell PKG_CONFIG_PATH=$(BLAS_PC) pkg-config --cflags openblas 2>/dev/null)

clean:
	rm -rf build build-asan pipeline

-include $(shell find $(B) -name '*.d' 2>/dev/null)
