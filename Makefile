# SPDX-License-Identifier: GPL-2.0
#
# fuseuring: top-level build.  `make` builds the module against the cached
# Debian kernel (KVER), the library and the selftests; `make check` boots
# a guest and runs the tests.  `make KDIR=/lib/modules/$(uname -r)/build`
# builds the module for the running kernel of a real machine.

VM	:= tools/testing/vm
SELFTESTS := tools/testing/selftests/fuseuring
DEFAULT_KVER := $(shell . $(VM)/kernels.sh && echo $$DEFAULT_KVER)
ALL_KVERS := $(shell . $(VM)/kernels.sh && echo $$ALL_KVERS)
KVER	?= $(DEFAULT_KVER)
CACHE	?= $(CURDIR)/.cache
KROOT	:= $(CACHE)/kernels/$(KVER)/root
KDIR	?= $(KROOT)/usr/src/linux-headers-$(KVER)

# The default kernel's module is built in place (./fuseuring.ko); the
# others' each in build/KVER from a copy of the module's source.
ifeq ($(KVER),$(DEFAULT_KVER))
MODDIR	:= $(CURDIR)
else
MODDIR	:= $(CURDIR)/build/$(KVER)
endif

# Packages and the kernel cache are needed only when building against the
# cache; a real machine's KDIR brings its own.
ifeq ($(KDIR),$(KROOT)/usr/src/linux-headers-$(KVER))
DEPS	:= $(CACHE)/.deps-$(KVER)
# A cached kernel built by a newer gcc than the host's builds its modules
# in a chroot of its own Debian release (tools/testing/vm/kernels.sh).
KCHROOT	:= $(shell . $(VM)/kernels.sh && kernel_vars $(KVER) && echo $$KCHROOT)
ifneq ($(KCHROOT),)
KBUILD_RUN := $(VM)/in-chroot.sh $(CACHE)/chroot-$(KCHROOT)
endif
endif

export CACHE KVER

# What DKMS needs to build the module: the source tree of the module alone.
MODULE_SRC = Kbuild dkms.conf include/uapi/linux/fuseuring.h \
	     fs/fuseuring/conftest.sh \
	     $(filter-out fs/fuseuring/features.h, \
			  $(wildcard fs/fuseuring/*.c fs/fuseuring/*.h))

.PHONY: all deps module lib examples mount-helper bench-tools selftests \
	check check-all soak demo bench checkpatch clean dkms-source \
	install uninstall

all: module lib examples mount-helper bench-tools selftests

deps: $(DEPS)

$(CACHE)/.deps-$(KVER): $(VM)/bootstrap.sh $(VM)/kernels.sh
	$(VM)/bootstrap.sh $(KVER)
	@touch $@

module: $(DEPS)
ifneq ($(MODDIR),$(CURDIR))
	mkdir -p $(MODDIR)
	cp -u --parents $(MODULE_SRC) $(MODDIR)
endif
	$(KBUILD_RUN) $(MAKE) -C $(KDIR) M=$(MODDIR) modules

lib: $(DEPS)
	$(MAKE) -C lib

examples: lib
	$(MAKE) -C examples

mount-helper: $(DEPS)
	$(MAKE) -C tools/mount

bench-tools:
	$(MAKE) -C tools/bench

# The selftests need the kselftest harness from the cache, whatever KDIR.
selftests: $(CACHE)/.deps-$(KVER) lib examples mount-helper
	$(MAKE) -C $(SELFTESTS)

check: all
	FUSEURING_KO=$(MODDIR)/fuseuring.ko $(VM)/run-tests.sh

# Every supported kernel in turn (each prints its own summary), then the
# sum of them all as the last line.
check-all:
	$(VM)/check-all.sh

# make soak [DURATION=seconds]: the mixed workload with random server
# restarts (selftests soak.sh) in a guest, for DURATION seconds (60).
DURATION ?= 60
LOGDIR	?= $(CACHE)/logs
soak: all
	mkdir -p $(LOGDIR)
	$(VM)/run-guest.sh --kver $(KVER) --host-root \
		--timeout $$(( $(DURATION) + 600 )) \
		--log $(LOGDIR)/soak-$(KVER).kernel.log -- \
		env FUSEURING_KO=$(MODDIR)/fuseuring.ko $(SELFTESTS)/soak.sh $(DURATION)

# The main job: a workload over the ring beside the classic path, in a guest.
demo: all
	$(VM)/demo.sh

# Side-by-side benchmarks in guests (tools/bench/bench.sh).
bench: all
	tools/bench/bench.sh

checkpatch: $(DEPS)
	$(VM)/checkpatch.sh

# make install [DESTDIR=] [PREFIX=/usr/local] [KDIR=...]: the module for
# KDIR's kernel (modules_install into /lib/modules/RELEASE/extra), the
# library (shared and static), its headers and pkg-config file, the mount
# helper, the examples and the man pages.  DKMS is the other way to ship
# the module (dkms.conf, make dkms-source).
PREFIX	?= /usr/local
MANDIR	?= $(PREFIX)/share/man
# The release KDIR builds for (6.1's headers have no kernel.release).
KRELEASE = $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
		$(KDIR)/include/generated/utsrelease.h 2>/dev/null)
MAN3_LINKS := fur_mount fur_loop fur_session_free fur_unmount fur_strerror \
	      fur_reply_err fur_reply_buf fur_reply_entry fur_reply_attr

# modules_install only copies and compresses: it runs on the host even for
# a kernel built in a chroot (which would not see DESTDIR).
install: module lib examples mount-helper
	$(MAKE) -C $(KDIR) M=$(MODDIR) INSTALL_MOD_PATH=$(DESTDIR) \
		INSTALL_MOD_DIR=extra CONFIG_MODULE_SIG_ALL= modules_install
	# Kbuild skips depmod without System.map (Debian's headers have none).
	if [ -z "$(DESTDIR)" ]; then depmod -a $(KRELEASE); fi
	$(MAKE) -C lib install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man8
	install -m 755 tools/mount/fuseuring-mount $(DESTDIR)$(PREFIX)/sbin/
	install -m 755 examples/passthrough $(DESTDIR)$(PREFIX)/bin/fuseuring-passthrough
	install -m 755 examples/memfs $(DESTDIR)$(PREFIX)/bin/fuseuring-memfs
	install -m 644 Documentation/man/libfuseuring.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 Documentation/man/fuseuring-mount.8 $(DESTDIR)$(MANDIR)/man8/
	for f in $(MAN3_LINKS); do \
		echo '.so man3/libfuseuring.3' >$(DESTDIR)$(MANDIR)/man3/$$f.3; \
	done

uninstall:
	rm -f $(DESTDIR)/lib/modules/$(KRELEASE)/extra/fuseuring.ko*
	if [ -z "$(DESTDIR)" ]; then depmod -a $(KRELEASE); fi
	$(MAKE) -C lib uninstall PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	rm -f $(DESTDIR)$(PREFIX)/sbin/fuseuring-mount \
	      $(DESTDIR)$(PREFIX)/bin/fuseuring-passthrough \
	      $(DESTDIR)$(PREFIX)/bin/fuseuring-memfs \
	      $(DESTDIR)$(MANDIR)/man3/libfuseuring.3 \
	      $(DESTDIR)$(MANDIR)/man8/fuseuring-mount.8 \
	      $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(addsuffix .3,$(MAN3_LINKS)))

# make dkms-source DEST=/usr/src/fuseuring-VERSION
dkms-source:
	@test -n "$(DEST)" || { echo "dkms-source: set DEST=" >&2; exit 1; }
	mkdir -p $(DEST)
	cp --parents $(MODULE_SRC) $(DEST)

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf build
	$(MAKE) -C lib clean
	$(MAKE) -C examples clean
	$(MAKE) -C tools/mount clean
	$(MAKE) -C tools/bench clean
	$(MAKE) -C $(SELFTESTS) clean
