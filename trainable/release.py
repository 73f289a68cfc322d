"""What a trial leaves behind for the next one: nothing.

Tune reuses a trial's process for the next trial (``reuse_actors=True``), so whatever a finished
trial still references (model, optimizer states, batches, the Trainer and its accelerator,
callbacks and their closures) would pile up trial over trial, in host memory and in the CUDA
cache. A trial drops its references by returning; these two functions free what is left: the
frames an exception keeps alive (a trial stopped at a rung leaves by ``SystemExit`` from inside
the Trainer, and its process is reused) and the garbage cycles and cached GPU blocks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import traceback

from accelerate.utils.memory import clear_device_cache


def release_memory() -> None:
    """Collect garbage cycles, hand cached GPU blocks back to the driver (when a GPU) and the
    freed host heap back to the OS (glibc keeps it otherwise, and the next trial's different
    sizes fragment it further)."""
    clear_device_cache(garbage_collection=True)
    _trim_heap()


def _trim_heap() -> None:
    libc = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if trim is not None:  # glibc only; elsewhere the allocator decides
        trim(0)


def drop_frame_locals(error: BaseException | None) -> None:
    """Clear the local variables of the finished frames ``error`` and the errors it chains carry:
    the traceback text stays, the model and batches those frames held go."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error = error.__cause__ or error.__context__
