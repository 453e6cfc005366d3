"""torchrun / DistributedDataParallel helpers.

The learner calls :func:`setup_distributed`: if a process group is initialised, or torchrun's
``RANK``/``WORLD_SIZE`` env vars are set with ``WORLD_SIZE > 1``, it initialises the group (gloo on CPU,
nccl on CUDA) and returns the rank, world size and device to use.
"""

from __future__ import annotations

import atexit
import gc
import os

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "all_reduce_sum",
    "barrier",
    "broadcast_arrays",
    "broadcast_object",
    "get_rank",
    "get_world_size",
    "is_distributed",
    "is_main_process",
    "setup_distributed",
    "shard_loader",
]


def is_distributed() -> bool:
    """True when a process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def setup_distributed(device: torch.device | str | None = None) -> torch.device:
    """Initialise the process group from torchrun's env vars when needed; return the device to use.

    ``device=None`` picks ``cuda:LOCAL_RANK`` (or cuda) when CUDA is available, else cpu.
    """
    env_world = int(os.environ.get("WORLD_SIZE", "1"))
    if dist.is_available() and not dist.is_initialized() and "RANK" in os.environ and env_world > 1:
        wants_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
        backend = "nccl" if wants_cuda else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
        # A group left alive at interpreter exit can abort the process (gloo: "terminate called without an active
        # exception", exit code -6 after a finished run): take it down first, as torch's docs ask.
        atexit.register(_destroy_process_group)
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        if is_distributed():
            return torch.device(
                "cuda", int(os.environ.get("LOCAL_RANK", get_rank() % torch.cuda.device_count()))
            )
        return torch.device("cuda")
    return torch.device("cpu")


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # DistributedDataParallel wrappers still in reference cycles must go before their group
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a list of floats over all ranks (identity when not distributed)."""
    if not is_distributed():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def _comm_device() -> torch.device:
    """Where collectives need their tensors: the current GPU under nccl, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast_object(obj):
    """Rank 0's ``obj`` (picklable; between the job's own processes only) on every rank; the others pass
    anything, e.g. None. ``obj`` itself when not distributed."""
    if not is_distributed():
        return obj
    box = [obj if is_main_process() else None]
    dist.broadcast_object_list(box, src=0, device=_comm_device())
    return box[0]


def broadcast_arrays(arrays: list[np.ndarray] | None) -> list[np.ndarray]:
    """Rank 0's list of 1-D integer arrays (e.g. one document's token ids each) on every rank, as int64;
    the other ranks pass None. One tensor broadcast for all the values. ``arrays`` itself when not
    distributed."""
    if not is_distributed():
        return arrays
    main = is_main_process()
    lengths = broadcast_object([len(a) for a in arrays] if main else None)
    if not lengths:
        return []
    device = _comm_device()
    if main:
        flat = torch.from_numpy(np.concatenate([np.asarray(a, dtype=np.int64) for a in arrays])).to(device)
    else:
        flat = torch.empty(sum(lengths), dtype=torch.int64, device=device)
    dist.broadcast(flat, src=0)
    return np.split(flat.cpu().numpy(), np.cumsum(lengths)[:-1])


def shard_loader(dl, seed: int = 0):
    """Give a plain ``torch.utils.data.DataLoader`` a ``DistributedSampler`` (same batch size, collate,
    workers, drop_last; shuffling kept if it shuffled). Other loaders are returned unchanged: our own
    loaders shard themselves from ``rank``/``world_size``."""
    from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

    if not is_distributed() or not isinstance(dl, DataLoader) or isinstance(dl.sampler, DistributedSampler):
        return dl
    if dl.batch_size is None:  # a custom batch_sampler: leave it to the user
        return dl
    sampler = DistributedSampler(
        dl.dataset,
        num_replicas=get_world_size(),
        rank=get_rank(),
        shuffle=isinstance(dl.sampler, RandomSampler),
        seed=seed,
        drop_last=dl.drop_last,
    )
    return DataLoader(
        dl.dataset,
        batch_size=dl.batch_size,
        sampler=sampler,
        num_workers=dl.num_workers,
        collate_fn=dl.collate_fn,
        pin_memory=dl.pin_memory,
        drop_last=dl.drop_last,
        worker_init_fn=dl.worker_init_fn,
        persistent_workers=dl.persistent_workers if dl.num_workers > 0 else False,
    )
