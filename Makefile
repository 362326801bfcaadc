# cairn build. Plain make; every .c under src/<subsystem>/ goes into libcairn.a.
#
#   make            release build (build/release/cairnd, build/release/cairn)
#   make run        install missing Debian packages, build, run cairnd with data in ./data
#   make test       install, build release + asan, run every test (tests/run.sh)
#   make MODE=asan  ASan+UBSan build in build/asan (MODE=tsan: ThreadSanitizer, build/tsan)
#   make fuzz       libFuzzer targets (clang) in build/fuzz
#   make deps       install the Debian packages the build and tests need (deps-run: only the build)

MODE ?= release
WERROR ?= 0
BUILD := build/$(MODE)
NPROC := $(shell nproc 2>/dev/null || echo 2)
CC ?= cc

# What building and running cairnd needs (make run), and what the tests need on top (make test).
RUN_PACKAGES := build-essential pkg-config libmicrohttpd-dev libjansson-dev libzstd-dev librabbitmq-dev \
                libcmocka-dev
DEB_PACKAGES := $(RUN_PACKAGES) clang libclang-rt-dev curl netcat-openbsd python3 procps cppcheck \
                rabbitmq-server amqp-tools

WARN := -Wall -Wextra -Wmissing-prototypes -Wshadow -Wpointer-arith -Wno-unused-parameter \
        -Wvla -Wstrict-prototypes
ifeq ($(WERROR),1)
WARN += -Werror
endif

BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc $(WARN) -pthread -MMD -MP
ifeq ($(MODE),asan)
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
else ifeq ($(MODE),tsan)
OPT := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
LDSAN := -fsanitize=thread
else
OPT := -O2 -g
LDSAN :=
endif

CFLAGS_ALL := $(BASE_CFLAGS) $(OPT) $(CFLAGS)
LIBS := -lmicrohttpd -ljansson -lzstd -lrabbitmq -lpthread -lm

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

.PHONY: all run test deps deps-run fuzz clean unit check-deps

all: $(BUILD)/cairnd $(BUILD)/cairn $(UNIT_BIN) $(BUILD)/amqp_pub

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libcairn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cairnd: $(BUILD)/src/main.o $(BUILD)/libcairn.a
	$(CC) $(OPT) $(LDSAN) -pthread -o $@ $^ $(LIBS)

$(BUILD)/cairn: $(BUILD)/tools/cairn.o $(BUILD)/libcairn.a
	$(CC) $(OPT) $(LDSAN) -pthread -o $@ $^ $(LIBS)

# Test publisher for the AMQP integration test (publisher confirms; librabbitmq only).
$(BUILD)/amqp_pub: $(BUILD)/tests/tools/amqp_pub.o
	$(CC) $(OPT) $(LDSAN) -o $@ $^ -lrabbitmq

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libcairn.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(LDSAN) -pthread -o $@ $^ $(LIBS) -lcmocka

unit: $(UNIT_BIN)

# libFuzzer targets: each fuzz_<x>.c links against the library built with clang.
FUZZ_BUILD := build/fuzz
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -Isrc -g -O1 -fsanitize=fuzzer,address,undefined -pthread
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -Isrc -g -O1 -fsanitize=fuzzer-no-link,address,undefined -pthread -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libcairn.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libcairn.a
	clang $(FUZZ_FLAGS) -o $@ $^ $(LIBS)

fuzz: $(FUZZ_BIN)

deps: PKGS = $(DEB_PACKAGES)
deps-run: PKGS = $(RUN_PACKAGES)
deps deps-run:
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

run: deps-run
	$(MAKE) MODE=release all
	./build/release/cairnd --data ./data

test: deps
	$(MAKE) -j$(NPROC) MODE=release WERROR=1 all
	$(MAKE) -j$(NPROC) MODE=asan WERROR=1 all
	$(MAKE) -j$(NPROC) MODE=tsan all
	$(MAKE) -j$(NPROC) fuzz
	bash tests/run.sh

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/main.d $(BUILD)/tools/cairn.d $(BUILD)/tests/tools/amqp_pub.d $(UNIT_BIN:%=$(BUILD)/tests/unit/%.d)
-include $(FUZZ_LIB_OBJ:.o=.d)
