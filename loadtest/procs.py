"""procs.py -- the child processes of the load-test kit and the benchmarks:
started with spawn(), stopped by their PID with stop(), and every one still
running stopped with stop_all(), newest first (wrk before its server).

    import procs                                   (loadtest/run.py, loadtest/replicas.py)
    sys.path.insert(0, REPO + "/loadtest"); import procs   (bench/heaplib.py)

Every child is killed by the kernel if the script dies without cleaning up
(PR_SET_PDEATHSIG), so no server, wrk, nginx or redis-server outlives it.
Nothing here ever signals a process it did not start. Not thread-safe: the
scripts start and stop their children from one thread.
"""

import ctypes
import signal
import subprocess

PR_SET_PDEATHSIG = 1  # prctl(2)

_children = []  # Popen objects started and not stopped yet, in start order


def die_with_parent():
    """Runs in the child between fork and exec: the kernel kills it when the
    parent dies without cleaning up (SIGKILL, a crash). SIGKILL, because
    nobody is left to wait for a graceful stop or to kill a stuck one."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def spawn(cmd, out=None, env=None, new_session=True, **popen_kw):
    """Starts cmd and remembers it for stop_all(); returns its Popen.

    With out (an open file), stdin is /dev/null and stdout and stderr both go
    to out; without, popen_kw says where they go. With new_session (the
    default) the child runs in its own session, so a Ctrl-C at the terminal
    reaches only the script, which then stops its children in order."""
    if out is not None:
        popen_kw.update(stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    p = subprocess.Popen(cmd, env=env, start_new_session=new_session,
                         preexec_fn=die_with_parent, **popen_kw)
    _children.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=15):
    """Sends sig to p (unless it has exited) and waits up to timeout seconds,
    then SIGKILLs it. Returns (exit status, killed): the status is negative
    when a signal ended it; killed says whether SIGKILL was needed."""
    killed = False
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            killed = True
    if p in _children:
        _children.remove(p)
    return p.returncode, killed


def stop_all(timeout=15):
    """Stops every child still running with SIGTERM, newest first."""
    for p in reversed(list(_children)):
        stop(p, signal.SIGTERM, timeout)
