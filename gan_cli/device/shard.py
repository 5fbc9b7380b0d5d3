"""Which share of a run's work this process does: rank ``rank`` of ``world_size`` (``distributed``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Shard:
    """This process's place in the run: rank ``rank`` of ``world_size``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def part(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch's rows."""
        per_rank = len(rows) // self.world_size
        return rows[self.rank * per_rank : (self.rank + 1) * per_rank]


SINGLE_PROCESS = Shard()
