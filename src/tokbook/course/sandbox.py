"""Run each graded notebook's kernel in a bubblewrap sandbox of its own.

nbgrader executes a submission in a Jupyter kernel that can read and write whatever the
instructor can: the source notebook with the solutions and hidden tests, the gradebook, the other
submissions of its batch, the network. Here the kernel is started inside ``bwrap`` (bubblewrap,
the unprivileged sandbox that Flatpak uses), through a kernel manager of our own
(:class:`SandboxedKernelManager`), which nbgrader's ``Execute`` preprocessor uses
(:class:`SandboxedExecute`). What the kernel sees:

``/home/student`` (its working folder and ``HOME``) and ``/tmp``
    two empty tmpfs of :data:`DISK_BYTES` each; the working folder gets a copy of the student's
    own submitted notebook and of the exercise's other (non-notebook) files. Never the notebook
    nbgrader is executing, which has the hidden tests put back in;
``/usr`` (and ``/bin``, ``/lib``... as links) and the Python environment, read-only
    the interpreter's prefix, its base prefix and the folders on its ``sys.path`` (the
    ``tokbook`` package), but no folder that holds the course being graded;
``/dev`` (null, zero, random, urandom, tty, shm, pts), ``/proc`` of its own pid namespace
    and nothing else: no ``source/``, no ``gradebook.db``, no other submission, no host ``/tmp``,
    no home folder, no ``/etc``.

Namespaces: user, pid, mount, network (only a loopback of its own: no connection to the host's
ports, nor anywhere), IPC, UTS, cgroup; a new session; no nested user namespaces; no
capabilities. When tokbook runs as root, the sandbox runs as ``nobody`` (uid 65534), so that the
process limit applies (the kernel exempts root from it). Limits: :data:`MAX_PROCESSES` processes
and threads in the sandbox (``RLIMIT_NPROC``, counted per user namespace, so per sandbox), the
memory limit of the grading run (``RLIMIT_AS``, per process), the tmpfs sizes, no core files.
Every process of the sandbox but the kernel is killed after each cell (a background process or a
fork bomb ends with the cell that started it); when the kernel ends, for any reason, the pid
namespace ends and every process in it dies with it.

The kernel talks to nbgrader over ZeroMQ's ``ipc`` transport (unix sockets): a TCP port on
loopback cannot cross a network namespace. The kernel binds its sockets in a tmpfs of the
sandbox (``/run/kernel``), and nbgrader connects to them through ``/proc/<pid>/root/run/kernel``,
so nothing of the host is writable from inside. The kernel is interrupted by a message on its
control channel (a signal to ``bwrap`` would kill the sandbox).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbgrader.preprocessors import Execute

__all__ = ["DISK_BYTES", "MAX_PROCESSES", "SANDBOXES", "SandboxedExecute", "SandboxedKernelManager",
           "bwrap_problem", "choose_sandbox"]

#: The values of ``tokbook grade --sandbox``.
SANDBOXES = ("bwrap", "none")
#: Size of each writable folder of the sandbox (its working folder and its /tmp).
DISK_BYTES = 64 * 1024 * 1024
#: Processes and threads that may exist at once in one sandbox (a kernel uses about ten).
MAX_PROCESSES = 64
#: The user a sandbox runs as when tokbook runs as root.
NOBODY = 65534

HOME = "/home/student"
SHARE = "/run/tokbook"  # read-only: the kernel's connection file and the student's files
SOCKETS = "/run/kernel"  # tmpfs of the sandbox: the kernel's unix sockets

#: Run as ``python -I -S -c _OUTSIDE SPEC``, become ``bwrap`` with the Python folders bound
#: read-only. As root, first drop to nobody, so that the process limit applies; but nobody may not
#: reach those folders (pyenv's Python is under /root, which is private), and bwrap resolves every
#: source path as the user it runs as. So root first binds each folder onto a mount point that
#: nobody can reach, in a mount namespace of this process alone.
_OUTSIDE = """\
import ctypes, json, os, sys
spec = json.loads(sys.argv[1])
binds = []
if os.getuid() == 0:
    libc = ctypes.CDLL(None, use_errno=True)
    def check(result, what):
        if result != 0:
            raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")
    check(libc.unshare(0x20000), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None), "mount --make-rprivate /")
    for i, path in enumerate(spec["ro_binds"]):
        point = os.path.join(spec["mounts"], str(i))
        os.mkdir(point)
        check(libc.mount(path.encode(), point.encode(), None, 0x1000 | 0x4000, None), f"mount --rbind {path}")
        binds += ["--ro-bind", point, path]
    os.setgroups([])
    os.setresgid(spec["nobody"], spec["nobody"], spec["nobody"])
    os.setresuid(spec["nobody"], spec["nobody"], spec["nobody"])
else:
    for path in spec["ro_binds"]:
        binds += ["--ro-bind", path, path]
# The Python folders are bound after the sandbox's own mounts, so that a folder under /tmp (a
# clone or a virtual environment there) is not hidden by the sandbox's empty /tmp.
at = spec["binds_at"]
os.execv(spec["bwrap"], [spec["bwrap"], *spec["args"][:at], *binds, *spec["args"][at:]])
"""

#: Run inside the sandbox as ``python -I -S -c _INSIDE MAX_PROCESSES COMMAND...``: set the limits
#: (inside the new user namespace, so they count this sandbox only), copy the student's files
#: into the working folder, become COMMAND.
_INSIDE = """\
import os, resource, shutil, sys
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
shutil.copytree(sys.argv[2], sys.argv[3], dirs_exist_ok=True)
os.execv(sys.argv[4], sys.argv[4:])
"""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@functools.cache
def _python_path() -> tuple[str, ...]:
    """``sys.path`` of this Python as the kernel gets it: no PYTHONPATH, no user site, no script
    folder (``-I``), but the ``.pth`` files of the environment (an editable ``tokbook``)."""
    done = subprocess.run([sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                          capture_output=True, text=True, check=True, timeout=60)
    return tuple(json.loads(done.stdout))


def python_folders(exclude: Path) -> list[str]:
    """The folders the kernel's Python needs, read-only: none holding (or inside) ``exclude``."""
    found = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *_python_path()]
    exclude = exclude.resolve()
    keep: list[Path] = []
    for entry in found:
        if not entry or not os.path.isdir(entry):
            continue
        path = Path(entry).resolve()
        if _inside(exclude, path) or _inside(path, exclude) or _inside(path, Path("/usr")):
            continue
        if not any(_inside(path, k) for k in keep):
            keep = [k for k in keep if not _inside(k, path)] + [path]
    return sorted(str(p) for p in keep)


def _system_binds() -> list[str]:
    """``/usr`` read-only, and the top-level links into it (``/bin -> usr/bin`` on Debian)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    return args


def make_staging() -> Path:
    """A new host folder for one sandbox: ``share/`` (becomes /run/tokbook) and ``mounts/`` (see
    ``_OUTSIDE``). Others may pass through it (nobody must), but not list it."""
    staging = Path(tempfile.mkdtemp(prefix="tokbook-kernel-"))
    for sub in ("share", "share/files", "mounts"):
        (staging / sub).mkdir()
        (staging / sub).chmod(0o755)
    staging.chmod(0o711)
    return staging


def bwrap_command(command: list[str], *, staging: Path, course: Path) -> list[str]:
    """The command that runs ``command`` (a kernel) in a sandbox, with the files of ``staging``
    (made by :func:`make_staging`); no Python folder that holds ``course`` is bound."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise RuntimeError("bwrap is not installed")
    args = [
        *_system_binds(),
        "--ro-bind", str(staging / "share"), SHARE,
        "--dev", "/dev", "--proc", "/proc",
        "--size", str(DISK_BYTES), "--tmpfs", HOME,
        "--size", str(DISK_BYTES), "--tmpfs", "/tmp",
        "--size", str(1024 * 1024), "--tmpfs", SOCKETS,
    ]
    binds_at = len(args)  # the Python folders go here (see _OUTSIDE)
    args += [
        "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL", "--chdir", HOME,
        "--clearenv", "--setenv", "HOME", HOME, "--setenv", "TMPDIR", "/tmp",
        "--setenv", "PATH", f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONNOUSERSITE", "1",
        "--setenv", "MPLBACKEND", "Agg",
    ]
    for name in ("NBGRADER_EXECUTION", "TZ"):
        if name in os.environ:
            args += ["--setenv", name, os.environ[name]]
    args += ["--", sys.executable, "-I", "-S", "-c", _INSIDE, str(MAX_PROCESSES), f"{SHARE}/files", HOME,
             *command]
    spec = {"bwrap": bwrap, "nobody": NOBODY, "ro_binds": python_folders(course), "mounts": str(staging / "mounts"),
            "args": args, "binds_at": binds_at}
    return [sys.executable, "-I", "-S", "-c", _OUTSIDE, json.dumps(spec)]


@functools.cache
def bwrap_problem() -> str:
    """Why kernels cannot be sandboxed here ("" when they can): runs Python in a sandbox once."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    staging = make_staging()
    try:
        command = bwrap_command([sys.executable, "-c", "import ipykernel"], staging=staging, course=staging)
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run ({exc})"
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return f"bwrap cannot make a sandbox on this machine ({last})"
    return ""


def choose_sandbox(requested: str | None) -> tuple[str, str]:
    """Return (the sandbox to use, a note for the instructor: "" when submissions are isolated).

    ``requested`` is ``"bwrap"``, ``"none"`` or None (bwrap when it works here).
    """
    if requested not in (None, *SANDBOXES):
        raise ValueError(f"unknown sandbox {requested!r}: use one of {', '.join(SANDBOXES)}")
    if requested == "none":
        return "none", ("submissions were not isolated (the instructor chose no sandbox): student code could "
                        "read the solutions, hidden tests and other submissions, and use the network")
    problem = bwrap_problem()
    if not problem:
        return "bwrap", ""
    if requested == "bwrap":
        raise ValueError(f"the bubblewrap sandbox was asked for, but {problem}; install bubblewrap "
                         "(apt-get install bubblewrap) or choose no sandbox")
    return "none", (f"submissions were not isolated: {problem} (install bubblewrap: apt-get install "
                    "bubblewrap); student code could read the solutions, hidden tests and other submissions")


def _children(pid: int) -> list[int]:
    out = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(p) for p in children.read_text().split()]
        except (OSError, ValueError):
            continue
    return out


def _stat(pid: int) -> list[str]:
    """Fields of ``/proc/<pid>/stat`` after the command name: [state, ppid, ...] ([] if gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie waits for its parent, maybe the kernel, to reap it)."""
    return _stat(pid)[:1] not in ([], ["Z"], ["X"])


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in a bubblewrap sandbox and talk over unix sockets."""

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")
        super().__init__(**kwargs)
        self._staging: Path | None = None
        self._course = Path()
        self._init_pid = 0

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_spec.interrupt_mode = "message"  # a SIGINT to bwrap would end the sandbox
        cwd = Path(kw.get("cwd") or os.getcwd()).resolve()
        self._course = cwd
        self._staging = make_staging()
        _copy_student_files(cwd, self._staging / "share" / "files")
        self.ip = f"{SOCKETS}/k"  # as the kernel sees it; the ports are 1, 2, ... (free here)
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        share = self._staging / "share"
        shutil.copy(self.connection_file, share / "connection.json")
        for path in share.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        connection = os.path.realpath(self.connection_file)
        command = [f"{SHARE}/connection.json" if arg == connection else arg for arg in command]
        course = self._course.parents[2] if len(self._course.parents) > 2 else self._course
        return bwrap_command(command, staging=self._staging, course=course)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        await super()._async_launch_kernel(kernel_cmd, **kw)
        bwrap = self.provisioner.pid
        deadline = time.monotonic() + 30
        while not self._init_pid and time.monotonic() < deadline:
            children = _children(bwrap)
            if children:
                self._init_pid = children[0]
            elif self.provisioner.process.poll() is not None:
                break
            else:
                await asyncio.sleep(0.005)
        # nbgrader reaches the kernel's sockets through the sandbox's root (ZeroMQ retries until
        # the kernel has bound them).
        self.ip = f"/proc/{self._init_pid or bwrap}/root{SOCKETS}/k"

    async def _async_interrupt_kernel(self):
        await super()._async_interrupt_kernel()
        self.end_strays()

    interrupt_kernel = _async_interrupt_kernel

    def end_strays(self) -> None:
        """Kill every process of the sandbox but the kernel (and the sandbox's init)."""
        if not self._init_pid:
            return
        first = sorted(_children(self._init_pid), key=lambda pid: int((_stat(pid) or [0] * 20)[19]))
        todo, strays = first[1:], []
        for pid in first[:1]:
            todo += _children(pid)
        while todo:
            pid = todo.pop()
            strays.append(pid)
            todo += _children(pid)
        strays = [pid for pid in strays if _running(pid)]
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 5
        while strays and time.monotonic() < deadline:
            strays = [pid for pid in strays if _running(pid)]
            time.sleep(0.002)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    cleanup_resources = _async_cleanup_resources


def _copy_student_files(cwd: Path, target: Path) -> None:
    """Copy what the student may see into ``target``: the exercise's non-notebook files from the
    folder nbgrader executes in, and the student's notebook as submitted (nbgrader's
    ``autograded/<student>/<assignment>`` has the hidden tests in its copy; ``submitted/`` not).
    Files beyond half the working folder's size are left out (a notebook saved with large outputs
    must still be graded)."""
    files = [(p, p.relative_to(cwd)) for p in sorted(cwd.rglob("*")) if p.is_file() and p.suffix != ".ipynb"]
    if cwd.parent.parent.name == "autograded":
        submitted = cwd.parents[2] / "submitted" / cwd.parent.name / cwd.name
        files += [(p, Path(p.name)) for p in sorted(submitted.glob("*.ipynb"))]
    budget = DISK_BYTES // 2
    for path, relative in files:
        size = path.stat().st_size
        if size > budget:
            continue
        budget -= size
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)


class SandboxedExecute(Execute):
    """nbgrader's ``Execute``, with each kernel in a sandbox, and strays killed after each cell."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    async def async_execute_cell(self, *args, **kwargs):
        try:
            return await super().async_execute_cell(*args, **kwargs)
        finally:
            if isinstance(self.km, SandboxedKernelManager):
                self.km.end_strays()
