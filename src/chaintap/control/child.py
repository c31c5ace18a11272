"""Start a pipeline child that dies with its server: `python -m chaintap.control.child
<server pid> -- <command...>`.

It asks Linux to send it SIGTERM when the server thread that started it goes away
(prctl PR_SET_PDEATHSIG, which outlives the exec), checks the server did not
already go, then replaces itself with the command. So a server killed with SIGKILL
leaves no unsupervised pipelines behind; on other systems the command just runs,
and the next server start stops the orphans it finds by their recorded PIDs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m chaintap.control.child SERVER_PID -- COMMAND...")
    server_pid, command = int(argv[0]), argv[2:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != server_pid:
            sys.exit("the chaintap server that started this pipeline is gone")
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
