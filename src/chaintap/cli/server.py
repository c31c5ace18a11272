"""`chaintap server`: run the local control server in the foreground."""

from __future__ import annotations

import click

from chaintap.control.client import server_port
from chaintap.control.server import serve
from chaintap.control.supervisor import SupervisorSettings
from chaintap.state.home import chaintap_home
from chaintap.tuning import CONTROL_JOB_TTL_S, CONTROL_STOP_GRACE_S, RESOURCE_PROFILES


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback needs --token.",
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port to listen on [default: CHAINTAP_SERVER_PORT or 4750].",
)
@click.option(
    "--token",
    envvar="CHAINTAP_SERVER_TOKEN",
    default=None,
    help="Bearer token every request must carry [env: CHAINTAP_SERVER_TOKEN].",
)
@click.option(
    "--job-ttl",
    type=click.FloatRange(min=0),
    default=CONTROL_JOB_TTL_S,
    show_default=True,
    help="Seconds an ended job is kept (with checkpoints and logs) before deletion.",
)
@click.option(
    "--stop-grace",
    type=click.FloatRange(min=0),
    default=CONTROL_STOP_GRACE_S,
    show_default=True,
    help="Seconds a stopping pipeline may take to finish its batch before SIGKILL.",
)
@click.option(
    "--memory-limit-mib",
    type=click.IntRange(min=1),
    default=None,
    help="Memory (MiB) the processes of every pipeline may use together, replacing "
    "the limit of its resource_size [default: the resource_size's: "
    + ", ".join(f"{p.size} {p.memory_mib}" for p in RESOURCE_PROFILES.values())
    + "].",
)
def server(
    host: str,
    port: int | None,
    token: str | None,
    job_ttl: float,
    stop_grace: float,
    memory_limit_mib: int | None,
) -> None:
    """Run the control server that keeps applied pipelines running.

    It owns the desired state of every pipeline in CHAINTAP_HOME, runs each in its
    own process, restarts failed deployments with backoff and deletes ended jobs
    after --job-ttl. A pipeline whose processes use more memory than its
    resource_size allows (or --memory-limit-mib) is stopped and counts as failed.
    On start it brings back every pipeline that should run, from its checkpoints.
    `apply` and the other verbs start it on demand.
    """
    settings = SupervisorSettings(
        job_ttl_s=job_ttl, stop_grace_s=stop_grace, memory_limit_mib=memory_limit_mib
    )
    serve(chaintap_home(), host, port or server_port(), token, settings)
