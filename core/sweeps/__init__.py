"""Sweeps: a user's own grid over any config key, run through the batched engine.

    spec = load_spec("grid.toml")               # members expanded and validated, no work yet
    plan = plan_sweep(spec, chunk_seconds=60)   # groups, chunks, estimates; loads each group's data
    for payload in plan.payloads(skip=done):    # plain data: what a worker gets
        arrays = run_payload(payload)           # or backends.run_ray(...)

spec.py parses and validates, runner.py groups, chunks and trains, backends.py runs chunks
locally or on Ray. Nothing here touches the session store: lab/cli/sweep.py records.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.data import Dataset
from core.sweeps.runner import (DEFAULT_CHUNK_SECONDS, RESULT_NAMES, RESULTS, Chunk, chunk_payload, group_key, group_members,
                                load_group_data, network_cost, plan_chunks, run_payload, train_chunk)
from core.sweeps.spec import Axis, Member, SweepSpec, load_spec, parse_spec

__all__ = [
    "Axis", "Member", "SweepSpec", "load_spec", "parse_spec", "SweepPlan", "plan_sweep", "Chunk", "RESULTS",
    "RESULT_NAMES", "chunk_payload", "group_key", "network_cost", "run_payload", "train_chunk",
    "DEFAULT_CHUNK_SECONDS",
]


@dataclass
class SweepPlan:
    spec: SweepSpec
    groups: list[list[int]]  # member indices per group (members that train together)
    chunks: list[Chunk]
    estimates: list[float]  # rough seconds per chunk on the device type
    datasets: list[Dataset]  # per group
    device_type: str

    @property
    def networks(self) -> int:
        return len(self.spec.members)

    def memory_bytes(self) -> float:
        """Rough peak memory of the largest chunk while it trains."""
        worst = 0.0
        for chunk in self.chunks:
            config = self.spec.members[chunk.members[0]].config
            data = self.datasets[chunk.group]
            _, per_network = network_cost(config, data.inputs, len(data.x_train))
            worst = max(worst, per_network * len(chunk.members))
        return worst

    def payloads(self, skip: set[int] = frozenset()):
        """The payload of every chunk not in `skip`, made as they are asked for."""
        configs = [m.config for m in self.spec.members]
        for chunk in self.chunks:
            if chunk.index not in skip:
                yield chunk_payload(configs, chunk, self.datasets[chunk.group], self.spec.series)


def plan_sweep(spec: SweepSpec, chunk_seconds: float = DEFAULT_CHUNK_SECONDS, max_members: int | None = None,
               chunk_bytes: int | None = None, parallel: int = 1) -> SweepPlan:
    """Group and chunk the members; loads each group's dataset (shapes decide the chunk sizes).
    A function of the spec and these options: the same spec gives the same chunks anywhere."""
    from core.train import resolve_device

    configs = [m.config for m in spec.members]
    groups = group_members(configs)
    datasets = load_group_data(configs, list(groups.values()))
    data_of = {key: d for key, d in zip(groups, datasets)}
    device_type = resolve_device(configs[0].train.device).type
    for name in {c.train.device for c in configs}:
        resolve_device(name)  # a missing CUDA device is one line before any work

    def inputs_of(config):
        d = data_of[group_key(config)]
        return d.inputs, len(d.x_train) + (0 if d.x_test is None else len(d.x_test))

    group_list, chunks, estimates = plan_chunks(configs, groups, inputs_of, device_type, chunk_seconds, max_members,
                                                chunk_bytes, parallel)
    return SweepPlan(spec, group_list, chunks, estimates, datasets, device_type)
