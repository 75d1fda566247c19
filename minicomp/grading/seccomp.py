"""A seccomp-BPF filter: no metadata changes, no new processes, no side channels.

Why: Landlock (:mod:`.landlock`) decides which files may be opened,
written, created, renamed or removed, but not who may change a file's
*metadata*. The kernel lets the owner of a file ``chmod``, ``chown`` (to
its own group), ``utime`` it, set its extended attributes or its inode
flags (``chattr``) by path or through any descriptor, even one opened
read-only. The student process often owns the grader's files: a non-root
grader runs it as its own user, and a root grader keeps effective uid 0
when ``nobody`` cannot read Python (see :func:`.landlock.drop_privileges`).
So the kernel is told to refuse, with ``EPERM``, every system call that
changes metadata, whatever the file:

* the ``chmod``, ``chown`` and ``utime`` families, setting or removing
  extended attributes, ``file_setattr`` (see :data:`DENIED`);
* ``io_uring_*``: its requests (``setxattr`` among them) are not seen by
  seccomp, so the ring itself is refused;
* ``ioctl`` of the filesystem families (:data:`FS_IOCTL_TYPES`): inode
  flags (``FS_IOC_SETFLAGS``: immutable, append-only), ``FS_IOC_FSSETXATTR``,
  versions, fs-verity and fscrypt, btrfs, f2fs and FAT attributes;
* what would let the student's code outlive its sandbox or reach past it
  (found by attacking the grader): new processes (``fork``, ``vfork``,
  ``clone`` without ``CLONE_THREAD``; ``clone3`` answers ``ENOSYS`` so that
  threads fall back to ``clone``), leaving the process group (``setsid``,
  ``setpgid``), undoing the parent-death signal (``prctl(PR_SET_PDEATHSIG)``),
  sockets of any family (a path-named UNIX socket of a root service is not
  covered by Landlock, and ``AF_VSOCK`` not by the network namespace), the
  kernel keyrings (the grader's session keyring is inherited), and locks
  and leases on files it may only read (``flock``, ``fcntl`` ``F_SETLK*``,
  ``F_OFD_SETLK*``, ``F_SETLEASE``: a lease blocks the owner's writes);
* memory that ``RLIMIT_AS`` does not count: ``memfd_create`` and
  ``memfd_secret`` (a file in RAM stays allocated once unmapped, so 150
  of them held 2.4 GB under a 1 GB limit), System V shared memory and
  message queues (``shmget``, ``msgget``: the same, kept by the kernel);
* ``execve`` and ``execveat``: a new program clears the parent-death
  signal, and students never need one (the worker itself never calls
  them after the filter is installed, last of all walls);
* every call of another ABI (i386 on x86-64, arm32 on arm64), and, with
  ``ENOSYS``, every number past the newest this table knows (x32 calls
  included): a system call added later cannot slip through.

Only x86-64 and arm64 are known; on any other architecture nothing is
installed and the report says so, rather than a filter with wrong numbers.

References: the kernel's Documentation/userspace-api/seccomp_filter.rst;
uapi ``linux/seccomp.h``, ``linux/filter.h``, ``linux/audit.h``; the
syscall tables ``arch/x86/entry/syscalls/syscall_64.tbl`` and
``include/uapi/asm-generic/unistd.h``.
Deviation: ioctls are refused by family (the type byte of the command),
not one by one; a student needs none of them.
"""
from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import struct
import sys

DENIED = ("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
          "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr",
          "removexattr", "lremovexattr", "fremovexattr", "setxattrat", "removexattrat",
          "file_setattr", "io_uring_setup", "io_uring_enter", "io_uring_register",
          "fork", "vfork", "setsid", "setpgid", "socket", "socketpair", "keyctl", "add_key",
          "request_key", "flock", "memfd_create", "memfd_secret", "shmget", "msgget",
          "execve", "execveat")
CLONE_THREAD = 0x10000
LOCK_COMMANDS = (6, 7, 37, 38, 1024)   # F_SETLK, F_SETLKW, F_OFD_SETLK(W), F_SETLEASE
PR_SET_PDEATHSIG = 1
# ioctl command = dir(2 bits) size(14) type(8) nr(8): the type byte names the family
FS_IOCTL_TYPES = {0x66: "f: FS_IOC_*FLAGS, ext4, fscrypt, fs-verity",
                  0x58: "X: FS_IOC_FSSETXATTR, xfs", 0x76: "v: FS_IOC_SETVERSION",
                  0x94: "btrfs, FICLONE", 0xF5: "f2fs", 0x72: "r: FAT attributes"}


@dataclasses.dataclass(frozen=True)
class Arch:
    """System call numbers of one architecture (64-bit, little-endian)."""

    audit: int                         # AUDIT_ARCH_* seen in seccomp_data.arch
    seccomp: int                       # __NR_seccomp
    ioctl: int                         # __NR_ioctl
    clone: int                         # __NR_clone (flags are its first argument)
    fcntl: int                         # __NR_fcntl
    prctl: int                         # __NR_prctl
    newest: int                        # highest number known; above: ENOSYS
    numbers: dict                      # name -> number, for the names of DENIED it has


CLONE3 = 435                           # the same number on both
_COMMON = {"memfd_secret": 447, "io_uring_setup": 425, "io_uring_enter": 426,
           "io_uring_register": 427,
           "fchmodat2": 452, "setxattrat": 463, "removexattrat": 466, "file_setattr": 469}
ARCHES = {
    "x86_64": Arch(0xC000003E, 317, 16, 56, 72, 157, 471, {
        "fork": 57, "vfork": 58, "setsid": 112, "setpgid": 109, "socket": 41,
        "socketpair": 53, "keyctl": 250, "add_key": 248, "request_key": 249, "flock": 73,
        "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93, "lchown": 94, "utime": 132,
        "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197,
        "lremovexattr": 198, "fremovexattr": 199, "utimes": 235, "fchownat": 260,
        "futimesat": 261, "fchmodat": 268, "utimensat": 280, "memfd_create": 319,
        "shmget": 29, "msgget": 68, "execve": 59, "execveat": 322, **_COMMON}),
    "aarch64": Arch(0xC00000B7, 277, 29, 220, 25, 167, 471, {  # no chmod, fork...: *at, clone
        "setsid": 157, "setpgid": 154, "socket": 198, "socketpair": 199, "keyctl": 219,
        "add_key": 217, "request_key": 218, "flock": 32,
        "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14, "lremovexattr": 15,
        "fremovexattr": 16, "fchmod": 52, "fchmodat": 53, "fchownat": 54, "fchown": 55,
        "utimensat": 88, "memfd_create": 279, "shmget": 194, "msgget": 186, "execve": 221,
        "execveat": 281, **_COMMON}),
}

# classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h)
LD_W_ABS, JEQ_K, JGT_K, AND_K, RET_K = 0x20, 0x15, 0x25, 0x54, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0_LOW, OFFSET_ARG1_LOW = 0, 4, 16, 24   # seccomp_data, LE
PR_SET_NO_NEW_PRIVS, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 38, 1, 1


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Insn))]


def current_arch() -> Arch | None:
    """The :class:`Arch` of this process, or None when its numbers are unknown.

    Examples
    --------
    >>> current_arch() is None or current_arch().ioctl in (16, 29)
    True
    """
    if not sys.platform.startswith("linux") or struct.calcsize("P") != 8 \
            or sys.byteorder != "little":
        return None                   # a 32-bit or big-endian process uses other numbers
    return ARCHES.get(os.uname().machine)


def program(arch: Arch) -> list:
    """The filter as ``(code, jt, jf, k)`` instructions, in order.

    Examples
    --------
    >>> prog = program(ARCHES["x86_64"])
    >>> prog[0], prog[-1]
    ((32, 0, 0, 4), (6, 0, 0, 2147418112))
    """
    eperm, enosys = RET_ERRNO | errno.EPERM, RET_ERRNO | errno.ENOSYS
    prog = [(LD_W_ABS, 0, 0, OFFSET_ARCH),
            (JEQ_K, 1, 0, arch.audit), (RET_K, 0, 0, eperm),       # another ABI: nothing
            (LD_W_ABS, 0, 0, OFFSET_NR),
            (JGT_K, 0, 1, arch.newest), (RET_K, 0, 0, enosys)]     # unknown (and x32)
    for name in DENIED:
        if name in arch.numbers:
            prog += [(JEQ_K, 0, 1, arch.numbers[name]), (RET_K, 0, 0, eperm)]
    prog += [(JEQ_K, 0, 1, CLONE3), (RET_K, 0, 0, enosys)]        # threads fall back to clone
    # each block below starts with the call's number and ends in a return
    blocks = [(arch.clone, [(LD_W_ABS, 0, 0, OFFSET_ARG0_LOW), (AND_K, 0, 0, CLONE_THREAD),
                            (JEQ_K, 0, 1, 0), (RET_K, 0, 0, eperm)]),       # a new process
              (arch.fcntl, [(LD_W_ABS, 0, 0, OFFSET_ARG1_LOW)]
               + [i for cmd in LOCK_COMMANDS
                  for i in ((JEQ_K, 0, 1, cmd), (RET_K, 0, 0, eperm))]),
              (arch.prctl, [(LD_W_ABS, 0, 0, OFFSET_ARG0_LOW),
                            (JEQ_K, 0, 1, PR_SET_PDEATHSIG), (RET_K, 0, 0, eperm)]),
              (arch.ioctl, [(LD_W_ABS, 0, 0, OFFSET_ARG1_LOW),             # the command
                            (AND_K, 0, 0, 0xFF00)]                         # its type byte
               + [i for kind in FS_IOCTL_TYPES
                  for i in ((JEQ_K, 0, 1, kind << 8), (RET_K, 0, 0, eperm))])]
    for number, body in blocks:
        body = body + [(RET_K, 0, 0, RET_ALLOW)]
        prog += [(JEQ_K, 0, len(body), number)] + body
    return prog + [(RET_K, 0, 0, RET_ALLOW)]


def install() -> str:
    """Install the filter on every thread of this process, for good; say what happened.

    Sets ``PR_SET_NO_NEW_PRIVS`` first (required without ``CAP_SYS_ADMIN``).
    The filter is inherited by every child and can never be removed.

    Returns
    -------
    str
        ``"metadata changes blocked (x86_64)"``, or ``"no seccomp (...why)"``
        when the architecture is unknown or the kernel refused.
    """
    arch = current_arch()
    if arch is None:
        machine = os.uname().machine if hasattr(os, "uname") else sys.platform
        return f"no seccomp (architecture {machine!r}, {struct.calcsize('P') * 8}-bit, " \
               "has no syscall table here)"
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    insns = (_Insn * len(program(arch)))(*program(arch))
    prog = _Prog(len(insns), insns)
    rc = libc.syscall(ctypes.c_long(arch.seccomp), ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
                      ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(prog))
    if rc != 0:
        why = os.strerror(ctypes.get_errno()) if rc < 0 else f"thread {rc} could not sync"
        return f"no seccomp (the kernel refused the filter: {why})"
    return f"metadata changes, new processes and programs, sockets, keyrings and " \
           f"uncounted memory blocked ({os.uname().machine})"
