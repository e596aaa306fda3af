"""The seccomp deny-list every sandboxed environment runs under, compiled to BPF for bwrap.

Default allow; EPERM for calls a function has no business making (mounting, namespaces,
tracing, kernel modules, keyrings, BPF, io_uring, clock setting...). `clone` with any
namespace flag is refused, and `clone3` answers ENOSYS so that libc falls back to
`clone`, whose flags a filter can read.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import tempfile

log = logging.getLogger(__name__)

DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "unshare",
    "setns", "open_by_handle_at", "name_to_handle_at", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "clock_settime", "clock_adjtime", "settimeofday",
    "adjtimex", "personality", "iopl", "ioperm", "acct", "quotactl", "lookup_dcookie",
    "syslog", "vhangup", "nfsservctl", "uselib", "sethostname", "setdomainname",
)
#: CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


def filter_fd(bpf: bytes) -> int:
    """An anonymous file holding the compiled filter, to pass to `bwrap --seccomp FD`."""
    fd = os.memfd_create("ember-seccomp")
    os.write(fd, bpf)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@functools.cache
def deny_list_bpf() -> bytes | None:
    """The compiled filter, or None if libseccomp is not on this host (the caller warns)."""
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError) as exc:  # OSError: the package loads libseccomp.so.2 at import
        log.warning("seccomp unavailable (%s): environments run without a syscall filter", exc)
        return None
    syscall_filter = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        try:
            syscall_filter.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (OSError, ValueError, RuntimeError):
            continue  # not a syscall on this architecture
    for flag in NAMESPACE_FLAGS:  # one rule per flag: rules for a syscall are OR-ed
        syscall_filter.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    syscall_filter.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as compiled:
        syscall_filter.export_bpf(compiled)
        compiled.seek(0)
        return compiled.read()
