"""The kernel's own confinement for the process that runs a student's file: Landlock, seccomp, capabilities, limits.

Standalone on purpose (no import of labrnn): `labrnn/student/child.py` loads it by path, so the child never has labrnn
loaded when a student's code runs.  Landlock and seccomp are reached through ctypes, the syscalls directly and
the system's libseccomp.so.2, because no maintained Python binding exists (PyPI's `landlock` is a pre-release,
`pyseccomp` unmaintained since 2021).  `confine` applies every layer the kernel has, in the order they need
(capabilities before no_new_privs, Landlock before seccomp), and returns which ones are in force, so a missing
layer (an older kernel, macOS) is named rather than assumed.  Call it while the process is single-threaded:
Landlock and seccomp bind the calling thread (and the threads it starts later), not threads already running.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import resource
import signal
import sys

LAYERS = {                      # what each layer takes away, as run.json and the report name it
    "landlock": "files: read only the interpreter, numpy and its own copy; write only its scratch directory",
    "scopes": "signals and abstract Unix sockets: none to any process outside its own (Landlock scopes)",
    "seccomp": "no socket, no fork, no exec, no ptrace (seccomp)",
    "capabilities": "no capabilities, no new privileges",
    "limits": "memory, CPU time, file size and open files bounded (rlimits)",
    "session": "its own session, killed with labrnn (PR_SET_PDEATHSIG)",
}

# -- Landlock (include/uapi/linux/landlock.h) -----------------------------------------------------------
SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}   # create_ruleset, add_rule, restrict_self
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_TRUNCATE, FS_IOCTL_DEV = 1 << 14, 1 << 15
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV   # those a file rule may hold
READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
NET_TCP = (1 << 0) | (1 << 1)                       # bind and connect, ABI 4
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6
CREATE_RULESET_VERSION, RULE_PATH_BENEATH = 1, 1

# -- seccomp (seccomp.h of libseccomp) ------------------------------------------------------------------
ACT_ALLOW = 0x7FFF0000
CMP_MASKED_EQ = 7
CLONE_THREAD = 0x00010000
REFUSED = ("socket", "socketpair", "fork", "vfork", "execve", "execveat", "ptrace", "process_vm_readv",
           "process_vm_writev", "unshare", "setns", "mount", "bpf", "perf_event_open", "userfaultfd", "keyctl",
           "add_key", "request_key", "kexec_load", "pidfd_getfd")
ABSENT = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register")   # ENOSYS: glibc falls back to clone

# -- prctl and capabilities -----------------------------------------------------------------------------
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 24, 38, 47, 4
CAP_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)),
           f"prctl({option})")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 without Landlock (another OS or architecture, an older kernel,
    or Landlock not among the LSMs it booted with)."""
    numbers = SYS_LANDLOCK.get(os.uname().machine) if sys.platform == "linux" else None
    if numbers is None:
        return 0
    abi = _libc.syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(abi), 0)


@functools.cache
def _seccomp_lib():
    """The system's libseccomp, loaded once (before Landlock, which would refuse reading it later)."""
    try:
        return ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        return None


def available() -> dict[str, str]:
    """Each layer this system lacks, with why; empty when all are there."""
    missing = {}
    abi = landlock_abi()
    if abi == 0:
        missing["landlock"] = "the kernel has no Landlock (Linux 5.13 or newer with Landlock enabled)"
    if abi < 6:
        missing["scopes"] = f"Landlock ABI {abi} has no scopes (ABI 6, Linux 6.12, is needed)"
    if sys.platform != "linux" or _seccomp_lib() is None:
        missing["seccomp"] = "no seccomp: libseccomp.so.2 is not installed (apt install libseccomp2)" \
            if sys.platform == "linux" else "no seccomp on this system"
    if sys.platform != "linux":
        missing["capabilities"] = missing["session"] = "Linux only"
    return missing


def landlock(readable: list[str], writable: str, abi: int) -> None:
    """Restrict this thread and its future threads to reading `readable` (directories or files) and to
    anything inside `writable`; TCP bind/connect (ABI 4) and signals and abstract sockets beyond this
    process (ABI 6) are refused too."""
    create, add, restrict = SYS_LANDLOCK[os.uname().machine]
    fs = FS_BY_ABI[min(abi, 5)]
    attr = _RulesetAttr(fs, NET_TCP if abi >= 4 else 0, SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _check(_libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
                     "landlock_create_ruleset")
    try:
        for path, access in [*((p, READ) for p in readable), (writable, fs)]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue            # a path that is not there needs no rule
            try:
                if not os.path.isdir(path):
                    access &= FILE_RIGHTS
                rule = _PathBeneath(access & fs, fd)
                _check(_libc.syscall(add, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)),
                       f"landlock_add_rule {path}")
            finally:
                os.close(fd)
        _check(_libc.syscall(restrict, ruleset, ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def seccomp() -> None:
    """Refuse sockets, fork, exec, ptrace and namespaces with EPERM, clone3 and io_uring with ENOSYS, and
    clone unless it starts a thread (CLONE_THREAD): threads still work, processes cannot be made."""
    lib = _seccomp_lib()
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.argtypes = lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(ACT_ALLOW)
    if not ctx:
        raise OSError(errno.ENOMEM, "seccomp_init failed")
    try:
        def add(name: str, code: int, *cmp: _ArgCmp) -> None:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number >= 0:         # a syscall this architecture does not have needs no rule
                array = (_ArgCmp * max(len(cmp), 1))(*cmp)
                _check(lib.seccomp_rule_add_array(ctx, 0x00050000 | code, number, len(cmp), array),
                       f"seccomp rule for {name}")
        for name in REFUSED:
            add(name, errno.EPERM)
        for name in ABSENT:
            add(name, errno.ENOSYS)
        add("clone", errno.EPERM, _ArgCmp(0, CMP_MASKED_EQ, CLONE_THREAD, 0))
        _check(lib.seccomp_load(ctx), "seccomp_load")
    finally:
        lib.seccomp_release(ctx)


def drop_capabilities() -> None:
    """Empty the bounding and ambient sets, then every capability this process holds (as root, too)."""
    if os.geteuid() == 0 or _held():
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            last = int(fh.read())
        for cap in range(last + 1):
            try:
                _prctl(PR_CAPBSET_DROP, cap)
            except OSError as err:
                if err.errno != errno.EINVAL:
                    raise
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        data = (_CapData * 2)()
        _check(_libc.capset(ctypes.byref(_CapHeader(CAP_VERSION_3, 0)), data), "capset")
    if _held():
        raise OSError(errno.EPERM, "capabilities are still held after dropping them")


def _held() -> bool:
    """Whether this process holds any capability (effective, permitted or in its bounding set, as root)."""
    with open("/proc/self/status") as fh:
        caps = dict(line.split(":", 1) for line in fh if line.startswith("Cap"))
    keys = ("CapEff", "CapPrm", "CapAmb") + (("CapBnd",) if os.geteuid() == 0 else ())
    return any(int(caps[k], 16) for k in keys if k in caps)


def limit(memory: int, cpu: int, file_size: int, open_files: int) -> None:
    """Bound this process: address space, CPU seconds (SIGXCPU, then SIGKILL two seconds later), the size of
    any file it writes (writes past it fail with EFBIG) and its open files; no core dumps."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for which, value, hard in ((resource.RLIMIT_AS, memory, memory), (resource.RLIMIT_CPU, cpu, cpu + 2),
                               (resource.RLIMIT_FSIZE, file_size, file_size),
                               (resource.RLIMIT_NOFILE, open_files, open_files), (resource.RLIMIT_CORE, 0, 0)):
        resource.setrlimit(which, (value, hard))


def session(parent: int) -> None:
    """SIGKILL when the parent ends (no watcher thread); end now if it already has.  Linux sends it when the
    parent's thread that started this process ends: labrnn uses a sandbox in the thread that started it."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def needed() -> list[str]:
    """What the interpreter and numpy need to read from now on, symlinks resolved: the standard library
    (wherever it lives: a pyenv under the home, a system Python) but its site-packages, numpy's package and its
    bundled libraries (in a venv inside a repository, a user site...), and each shared library mapped into
    this process (numpy's BLAS, libc) as a single file.  Nothing else of site-packages: not labrnn, however it
    is installed."""
    import sysconfig
    paths = set()
    for lib in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}:
        if os.path.isdir(lib):
            paths |= {os.path.join(lib, e) for e in os.listdir(lib) if e not in ("site-packages", "dist-packages")}
    numpy = getattr(sys.modules.get("numpy"), "__file__", None)
    if numpy:
        package = os.path.dirname(numpy)
        paths |= {package, package + ".libs"}
    try:
        with open("/proc/self/maps") as fh:
            paths |= {line.split(None, 5)[5].strip() for line in fh if line.count(" ") >= 5 and "/" in line}
    except OSError:
        pass
    found = set()
    for p in paths:
        if p.startswith("/") and os.path.exists(p):
            found |= {p, os.path.realpath(p)}
    return sorted(found)


def confine(scratch: str, readable: list[str], memory: int, cpu: int, file_size: int, open_files: int,
            parent: int) -> dict:
    """Every layer this system has, in order; {"enforced": [...], "missing": {layer: why}}.  Confinement is
    all or what there is: a layer the system has but that fails to apply is an OSError, never skipped."""
    missing = available()
    enforced = []
    if "session" not in missing:
        session(parent)
        enforced.append("session")
    if "capabilities" not in missing:
        drop_capabilities()
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        enforced.append("capabilities")
    try:
        limit(memory, cpu, file_size, open_files)
        enforced.append("limits")
    except (ValueError, OSError) as err:       # macOS refuses an address-space limit
        missing["limits"] = f"the system refused a limit: {err}"
    abi = landlock_abi()
    if abi:
        landlock(readable, scratch, abi)
        enforced += ["landlock"] + (["scopes"] if abi >= 6 else [])
    if "seccomp" not in missing:
        seccomp()
        enforced.append("seccomp")
    return {"enforced": enforced, "missing": missing, "landlock_abi": abi}
