"""The HTTP service as a Ray Serve application: replicas of the same app behind one address (``neovasc[ray]``).

    serve run app.ray_serve:build replicas=2 cpus=2 gpus=0

Each replica is the app of ``app.main.create_app``, with its start-up (``ServiceState``: the device, the
tendon model loaded once, the worker pool, the result store) and every route, middleware and limit of
``neovasc serve``. Serve's proxy takes the requests on one address and spreads them over the replicas,
which may sit on any node of the cluster. The settings are read once, where the command runs, and sent
to every replica; a replica reads the default ``weights/`` of its own node (``app.config.node_settings``).

The result store is one per replica: a stored result's files (``GET /v1/results/{id}/{name}``) and a
job's status (``/v1/jobs/{id}``) are found only when the request reaches the replica that made them,
so clients of several replicas grade with ``POST /v1/grade`` and read the Result from its answer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application

from app.config import Settings, get_settings, node_settings
from app.errors import UsageError
from app.main import create_app

DEPLOYMENT_NAME = "neovasc"


@dataclass(frozen=True)
class ServeOptions:
    """How many replicas, and the CPUs and GPUs each holds (a GPU replica segments and counts on it)."""

    replicas: int = 1
    cpus: float = 1.0
    gpus: float = 0.0

    @classmethod
    def from_args(cls, args: dict[str, str]) -> ServeOptions:
        """The options of ``serve run app.ray_serve:build key=value ...``.

        Raises:
            UsageError: an unknown key, or a value that is not a number in range.
        """
        known = {field.name: field.type for field in fields(cls)}
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise UsageError(f"app.ray_serve:build takes {', '.join(known)}; got {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, text in args.items():
            try:
                values[name] = int(text) if name == "replicas" else float(text)
            except ValueError:
                values[name] = -1
            if values[name] < (1 if name == "replicas" else 0):
                raise UsageError(f"{name}={text!r}: expected a number >= {1 if name == 'replicas' else 0}")
        return cls(**values)


def application(settings: Settings, options: ServeOptions) -> Application:
    """The Serve application: ``options.replicas`` replicas of the app for ``settings``.

    Raises:
        UsageError: settings that would serve the network without API keys (as ``neovasc serve``).
    """
    create_app(settings)  # refuses an open setup here, once, instead of on every replica

    def replica_app() -> FastAPI:  # runs on the replica: its own app, state and model
        return create_app(node_settings(settings))

    deployment = serve.deployment(
        serve.ingress(replica_app)(),
        name=DEPLOYMENT_NAME,
        num_replicas=options.replicas,
        ray_actor_options={"num_cpus": options.cpus, "num_gpus": options.gpus},
    )
    return deployment.bind()


def build(args: dict[str, str]) -> Application:
    """``serve run app.ray_serve:build replicas=N cpus=C gpus=G``: the settings come from ``NEOVASC_*``."""
    return application(get_settings(), ServeOptions.from_args(args))
