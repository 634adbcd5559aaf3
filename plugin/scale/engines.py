"""Engines that run the per-query unit of work: in this process, or on Ray.

Both take the prepared queries one by one (the driver prepares the next one when a worker is
free) and yield each query's row as soon as it is explained. Both call the same
:func:`~qdrant_explain.scale.work.explain_query`.

- :class:`LocalEngine`: in the calling process, with the explainer's own encoder.
- :class:`RayEngine`: a pool of Ray actors (:class:`AuditWorker`), each loading the encoder once,
  on a GPU when it is given ``num_gpus`` (Ray assigns it; the torch encoders pick CUDA when it is
  visible), else on ``threads`` CPU threads. ``address`` joins an existing cluster; without it a
  local Ray is started (``ray.init(num_cpus=...)``) and shut down at the end. Every worker keeps
  ``depth`` queries queued so that it never waits for the driver.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator

from .work import AuditSettings, QueryWork, explain_query

ENGINES = ("local", "ray")
"""Values of ``engine=``."""


def encoder_spec_of(encoder: Any) -> str | None:
    """The spec a worker can load the encoder from (its name, when a registered family reads it), else None."""
    from qdrant_explain.connectors.encoders import find_family

    name = getattr(encoder, "name", None)
    return name if isinstance(name, str) and find_family(name) is not None else None


def encoder_options(encoder: Any, *, threads: int | None, batch_size: int | None) -> dict:
    """Keywords for loading the encoder in a worker (device/threads/batch size only for torch encoders)."""
    from qdrant_explain.connectors.torch_base import TorchEncoder

    if not isinstance(encoder, TorchEncoder):
        return {}
    opts: dict = {"device": "auto", "dtype": getattr(encoder, "dtype_name", None) or None}
    if threads is not None:
        opts["threads"] = int(threads)
    if batch_size is not None:
        opts["batch_size"] = int(batch_size)
    return {k: v for k, v in opts.items() if v is not None}


class LocalEngine:
    """Explain every query in this process.

    Args:
        explainer_class: the SearchExplainer class the unit of work builds.
        encoder: the encoder (the driver's).
        info: the collection's info.
        settings: the audit's settings.
    """

    name = "local"

    def __init__(self, explainer_class: type, encoder: Any, info: Any, settings: AuditSettings) -> None:
        self.explainer_class, self.encoder, self.info, self.settings = explainer_class, encoder, info, settings
        self.workers = 1

    def start(self) -> None:
        """Nothing to start."""

    def map(self, works: Iterable[QueryWork]) -> Iterator[dict]:
        """Rows of the queries, in order."""
        for w in works:
            yield explain_query(self.explainer_class, self.encoder, self.info, w, self.settings, worker="local")

    def describe(self) -> dict:
        """What ran the audit."""
        return {"engine": "local", "workers": 1, "start_seconds": 0.0}

    def close(self) -> None:
        """Nothing to stop."""


class AuditWorker:
    """A Ray actor: loads the encoder once and explains the queries it is sent.

    Args:
        explainer_class, info, settings: as for :func:`explain_query`.
        encoder: a spec string (loaded here with ``options``) or an encoder object.
        options: :func:`~qdrant_explain.connectors.load_encoder` keywords.
        threads: CPU threads of torch and of the BLAS/OpenMP pools (threadpoolctl) in this worker (None: leave).
    """

    def __init__(self, explainer_class: type, encoder: Any, options: dict, info: Any, settings: AuditSettings,
                 threads: int | None) -> None:
        import socket

        from qdrant_explain.connectors import load_encoder

        if threads is not None:
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(limits=int(threads))  # BLAS/OpenMP pools of this process
            try:
                import torch

                torch.set_num_threads(int(threads))
            except ImportError:  # pragma: no cover - torch is a dependency
                pass
        self.encoder = load_encoder(encoder, **options) if isinstance(encoder, str) else encoder
        self.explainer_class, self.info, self.settings = explainer_class, info, settings
        self.who = f"ray:{socket.gethostname()}:{os.getpid()}"

    def run(self, work: QueryWork) -> dict:
        """The row of one query."""
        return explain_query(self.explainer_class, self.encoder, self.info, work, self.settings, worker=self.who)

    def describe(self) -> dict:
        """Where this worker runs and on which device."""
        device = str(getattr(self.encoder, "device", "cpu"))
        return {"worker": self.who, "device": device, "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", "")}


class RayEngine:
    """Explain the queries on a pool of Ray actors.

    Args:
        explainer_class, encoder, info, settings: as for :class:`LocalEngine`.
        address: an existing Ray cluster (``"auto"``, ``"ray://host:10001"``); None starts a local one.
        workers: actors (None: as many as the cluster's CPUs / ``threads``, or its GPUs / ``num_gpus``).
        threads: CPU threads per actor (also its ``num_cpus``; default 1).
        num_gpus: GPUs per actor (0: CPU actors; e.g. 1, or 0.5 for two actors per GPU).
        batch_size: encoder batch size in the actors (torch encoders).
        depth: queries queued per actor.
        num_cpus: CPUs of a local Ray (None: this machine's).

    Raises:
        ImportError: Ray is not installed (``pip install "qdrant-explain[ray]"``).
    """

    name = "ray"

    def __init__(self, explainer_class: type, encoder: Any, info: Any, settings: AuditSettings, *,
                 address: str | None = None, workers: int | None = None, threads: int | None = None,
                 num_gpus: float | None = None, batch_size: int | None = None, depth: int = 2,
                 num_cpus: int | None = None) -> None:
        for name, value, low in (("workers", workers, 1), ("threads", threads, 1), ("depth", depth, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ValueError(f"RayEngine({name}=...) must be an integer >= {low}; got {value!r}.")
        if num_gpus is not None and not (isinstance(num_gpus, (int, float)) and num_gpus >= 0):
            raise ValueError(f"RayEngine(num_gpus=...) must be >= 0 (GPUs per worker); got {num_gpus!r}.")
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ImportError("engine='ray' needs Ray: pip install 'qdrant-explain[ray]' (or pip install 'ray[data]'); "
                              "or use engine='local'.") from None
        self.explainer_class, self.info, self.settings = explainer_class, info, settings
        spec = encoder_spec_of(encoder)
        self.encoder = spec if spec is not None else encoder
        self.options = encoder_options(encoder, threads=threads, batch_size=batch_size) if spec is not None else {}
        self.address, self.requested, self.threads = address, workers, threads or 1
        self.num_gpus, self.depth, self.num_cpus = float(num_gpus or 0), depth, num_cpus
        self.actors: list = []
        self.workers = 0
        self._owns_ray = False
        self._described: list[dict] = []
        self.start_seconds = 0.0

    def start(self) -> None:
        """Join or start Ray and start the actors (each loads the encoder once)."""
        import time

        import ray

        t0 = time.perf_counter()
        if not ray.is_initialized():
            kw: dict = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address is not None:
                ray.init(address=self.address, **kw)
            else:
                ray.init(num_cpus=self.num_cpus or os.cpu_count() or 1, **kw)
            self._owns_ray = True
        resources = ray.cluster_resources()
        if self.requested is not None:
            n = self.requested
        elif self.num_gpus > 0:
            n = max(1, int(resources.get("GPU", 0) // self.num_gpus))
        else:
            n = max(1, int(resources.get("CPU", 1) // self.threads))
        remote = ray.remote(AuditWorker)
        self.actors = [remote.options(num_cpus=self.threads, num_gpus=self.num_gpus).remote(
            self.explainer_class, self.encoder, self.options, self.info, self.settings, self.threads)
            for _ in range(n)]
        self.workers = n
        self._described = ray.get([a.describe.remote() for a in self.actors])
        self.start_seconds = time.perf_counter() - t0

    def map(self, works: Iterable[QueryWork]) -> Iterator[dict]:
        """Rows as the actors finish them (completion order); the next query is prepared when a slot frees."""
        import ray

        if not self.actors:
            self.start()
        it = iter(works)
        free = [a for _ in range(self.depth) for a in self.actors]
        pending: dict = {}
        exhausted = False
        while True:
            while free and not exhausted:
                w = next(it, None)
                if w is None:
                    exhausted = True
                    break
                actor = free.pop(0)
                pending[actor.run.remote(w)] = actor
            if not pending:
                return
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                free.append(pending.pop(ref))
                try:
                    row = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    raise exc.as_instanceof_cause() from None
                yield row

    def describe(self) -> dict:
        """What ran the audit: the engine, its workers and their devices."""
        return {"engine": "ray", "workers": self.workers, "threads": self.threads, "num_gpus": self.num_gpus,
                "address": self.address, "devices": sorted({d.get("device", "?") for d in self._described}),
                "start_seconds": round(self.start_seconds, 3)}

    def close(self) -> None:
        """Stop the actors (and Ray, when this engine started it)."""
        import ray

        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - an actor that is already gone
                pass
        self.actors = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False


__all__ = ["AuditWorker", "ENGINES", "LocalEngine", "RayEngine", "encoder_options", "encoder_spec_of"]
