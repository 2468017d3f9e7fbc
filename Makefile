# SPDX-License-Identifier: GPL-2.0
#
# fuseuring: top-level build.  `make` builds the module against the cached
# Debian kernel (KVER), the library and the selftests; `make check` boots
# a guest and runs the tests.  `make KDIR=/lib/modules/$(uname -r)/build`
# builds the module for the running kernel of a real machine.

KVER	?= 6.12.95+deb12-amd64
CACHE	?= $(CURDIR)/.cache
KROOT	:= $(CACHE)/kernels/$(KVER)/root
KDIR	?= $(KROOT)/usr/src/linux-headers-$(KVER)
VM	:= tools/testing/vm
SELFTESTS := tools/testing/selftests/fuseuring

# Packages and the kernel cache are needed only when building against the
# cache; a real machine's KDIR brings its own.
ifeq ($(KDIR),$(KROOT)/usr/src/linux-headers-$(KVER))
DEPS	:= $(CACHE)/.deps-$(KVER)
endif

export CACHE KVER

# What DKMS needs to build the module: the source tree of the module alone.
MODULE_SRC = Kbuild dkms.conf include/uapi/linux/fuseuring.h \
	     $(wildcard fs/fuseuring/*.c fs/fuseuring/*.h)

.PHONY: all deps module lib mount-helper selftests check checkpatch clean \
	dkms-source

all: module lib mount-helper selftests

deps: $(DEPS)

$(CACHE)/.deps-$(KVER): $(VM)/bootstrap.sh $(VM)/kernels.sh
	$(VM)/bootstrap.sh $(KVER)
	@touch $@

module: $(DEPS)
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

lib: $(DEPS)
	$(MAKE) -C lib

mount-helper: $(DEPS)
	$(MAKE) -C tools/mount

# The selftests need the kselftest harness from the cache, whatever KDIR.
selftests: $(CACHE)/.deps-$(KVER) lib mount-helper
	$(MAKE) -C $(SELFTESTS)

check: all
	$(VM)/run-tests.sh

checkpatch: $(DEPS)
	$(VM)/checkpatch.sh

# make dkms-source DEST=/usr/src/fuseuring-VERSION
dkms-source:
	@test -n "$(DEST)" || { echo "dkms-source: set DEST=" >&2; exit 1; }
	mkdir -p $(DEST)
	cp --parents $(MODULE_SRC) $(DEST)

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C lib clean
	$(MAKE) -C tools/mount clean
	$(MAKE) -C $(SELFTESTS) clean
