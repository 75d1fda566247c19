"""Privileges, Landlock and namespaces through ``ctypes``: the student process' walls.

Runs inside the worker, before any student code. Four layers, each used
when the kernel offers it and reported either way:

1. **Privileges** (:func:`drop_privileges`): a root grader drops the
   process to ``nobody`` -- no supplementary groups, gid ``nobody``, real
   and saved uid ``nobody`` (so the kernel applies ``RLIMIT_NPROC``, which
   it never applies to uid 0) and, when ``nobody`` can read Python and
   every read-only root, the effective uid too. Otherwise (Python under a
   0700 ``/root``) the effective uid stays 0, which owns the grader's
   files: :mod:`.seccomp` then refuses every metadata change.
2. **User, network and PID namespaces** (``unshare(CLONE_NEWUSER |
   CLONE_NEWNET | CLONE_NEWPID)``): the process loses every capability it
   had outside, sees only a loopback interface that is down (no network),
   gets its own count of processes (so ``RLIMIT_NPROC`` limits the
   submission alone), and can neither see nor signal any process outside
   (``kill(-1, ...)`` included); when it dies, all it started dies too.
3. **Landlock** (Linux >= 5.13, no privilege needed): read + execute
   beneath the given read-only roots, full access beneath the read-write
   roots, nothing anywhere else; from ABI 4 no TCP bind/connect at all,
   from ABI 6 no signals to processes outside the sandbox (the grader
   cannot be killed) and no abstract UNIX sockets.
4. ``PR_SET_NO_NEW_PRIVS``: no set-uid binary can undo the above.

References: the kernel's Documentation/userspace-api/landlock.rst;
uapi ``linux/landlock.h`` (struct layouts and access bits used below);
credentials(7) and access(2) (``access`` answers for the *real* ids).
Deviation: UDP is blocked by the empty network namespace only; metadata
(mode, owner, times, xattrs) is guarded by :mod:`.seccomp`, not Landlock.
"""
from __future__ import annotations

import ctypes
import os
import sys

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # same on x86-64/arm64
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWPID = 0x10000000, 0x40000000, 0x20000000
CLONE_NEWIPC = 0x08000000             # System V IPC and POSIX queues of its own
NOBODY = 65534

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ABI1 = (1 << 13) - 1           # execute ... make_sym: the 13 rights of ABI 1
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable.

    Examples
    --------
    >>> abi_version() >= 0
    True
    """
    if not sys.platform.startswith("linux"):
        return 0                      # syscall numbers below are Linux's
    try:
        v = _libc().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                            ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(v), 0)


def fs_rights(abi: int) -> int:
    """Every filesystem right the given ABI knows (all of them are handled)."""
    rights = FS_ABI1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def drop_privileges(must_read, owned) -> str:
    """Give up root as far as Python can still run; return what was done, in words.

    Parameters
    ----------
    must_read : iterable of str
        Files and directories the process must still read afterwards (the
        read-only roots, ``sys.path``, the files of loaded modules).
    owned : iterable of str
        Directories (the sandbox) handed to ``nobody``, with the entries
        directly in them, when the effective uid is dropped too, so that
        it can read them (:func:`restrict` keeps them read-only).

    Notes
    -----
    Not root: nothing can be dropped (the process is the grader's user).
    Root: groups are cleared, every gid and the real and saved uids
    become ``nobody``; ``access(2)`` then answers for ``nobody``, and the
    effective uid follows only if ``nobody`` can read all of
    ``must_read`` -- else Python could not import the rest of its
    standard library. Call before :func:`unshare_namespaces`: inside the
    new user namespace no uid can be set any more.
    """
    if not sys.platform.startswith("linux"):
        return "privileges unchanged (not Linux)"
    if os.geteuid() != 0:
        return f"uid {os.geteuid()} kept (not root: nothing to drop)"
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, 0, NOBODY)
    for path in must_read:
        mode = os.R_OK | (os.X_OK if os.path.isdir(path) else 0)
        if os.path.exists(path) and not os.access(path, mode):
            return ("uid nobody (real, saved), gid nobody, no groups; effective uid 0 "
                    f"kept: nobody cannot read {path}")
    for folder in owned:
        for name in ["", *os.listdir(folder)]:
            os.chown(os.path.join(folder, name), NOBODY, NOBODY, follow_symlinks=False)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    return "uid and gid nobody (real, effective, saved), no groups"


def unshare_namespaces() -> str:
    """Enter fresh user, network, IPC and PID namespaces; say what happened, in words.

    The IPC namespace keeps shared memory, message queues and semaphores
    inside the sandbox (they die with it, and no other student's process
    can read them). The PID namespace applies to the children of the caller: the caller
    must fork, and its child becomes process 1 of the namespace (see
    :mod:`.worker`). When process 1 dies, the kernel kills every process
    left in the namespace, and no process outside it can be addressed.
    """
    if not sys.platform.startswith("linux"):
        return "no namespaces (not Linux)"
    libc = _libc()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWPID) == 0:
        return "user + network + IPC + PID namespaces"
    err = ctypes.get_errno()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC) == 0:
        return "user + network + IPC namespaces"
    if libc.unshare(CLONE_NEWNET | CLONE_NEWIPC) == 0:
        return "network + IPC namespaces"
    return f"no namespaces ({os.strerror(err)})"


def restrict(read_only, read_write, files_read_write=()) -> dict:
    """Apply Landlock to this process (and its future children) for good.

    Parameters
    ----------
    read_only : iterable of str
        Directories (or files) readable and executable, with everything
        beneath them.
    read_write : iterable of str
        Directories with full access beneath them.
    files_read_write : iterable of str
        Single files (e.g. ``/dev/null``) that may be read and written.

    Returns
    -------
    dict
        ``{"abi": n, "filesystem": bool, "network": bool, "signals": bool}``;
        all false with ``abi`` 0 when Landlock is unavailable.
    """
    libc = _libc()
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    abi = abi_version()
    report = {"abi": abi, "filesystem": False, "network": False, "signals": False}
    if abi < 1:
        return report
    handled = fs_rights(abi)
    attr = _RulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        read = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
        rules = [(p, read) for p in read_only] + [(p, handled) for p in read_write]
        rules += [(p, (FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE) & handled)
                  for p in files_read_write]
        for path, access in rules:
            _add_rule(libc, ruleset, path, access)
        if libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return {"abi": abi, "filesystem": True, "network": abi >= 4, "signals": abi >= 6}


def _add_rule(libc, ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return                        # a root that does not exist needs no rule
    try:
        if not os.path.isdir(path):
            access &= FILE_RIGHTS
        rule = _PathBeneathAttr(access, fd)
        if libc.syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)
