"""CPU, memory, disk, network and (where NVML finds one) GPU usage of a trial, on its own run.

MLflow's ``SystemMetricsMonitor`` samples in a thread every ``tracking.system_metrics_interval_s``
and logs ``system/cpu_utilization_percentage``, ``system/system_memory_usage_megabytes``,
``system/gpu_0_utilization_percentage``, ... (step = sample number, continued by a retried
trial) with its own client, on the given run id and tracking URI: no fluent (process-global) run.
This module is the one user of that API. Unlike what the trial reports (``outbox``), system
metrics are not kept through outages: MLflow's monitor stops when the server does not answer,
and the trial goes on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor
from mlflow.system_metrics.metrics.rocm_monitor import ROCMMonitor
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

from trainable.common.settings import TrackingSettings
from trainable.common.tracking.client import bounded_requests

THREAD_NAME = "SystemMetricsMonitor"  # MLflow's sampling thread; ours to stop it share the prefix
STOP_WAIT_S = 15.0  # a healthy server stops the monitor in milliseconds

# MLflow says at INFO that it starts, skips the GPU, stops, ... for every trial: noise under Ray.
# Its warnings (a sample it could not log) still show.
logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)


@contextlib.contextmanager
def monitor_system(settings: TrackingSettings, run_id: str | None) -> Iterator[None]:
    """Sample while the block runs; the monitor's thread is stopped however the block ends.
    Nothing when tracking is off, the interval is 0, or the run id is unknown (MLflow was down
    when the trial started). A monitor that cannot start or stop costs one printed line, never
    the trial."""
    monitor = _start(settings, run_id)
    try:
        yield
    finally:
        if monitor is not None:
            _stop(monitor)


def _start(settings: TrackingSettings, run_id: str | None) -> SystemMetricsMonitor | None:
    if not settings.uri or not settings.system_metrics_interval_s or run_id is None:
        return None
    try:
        with bounded_requests():  # it reads the run's last system step: seconds, not minutes
            monitor = SystemMetricsMonitor(
                run_id,
                sampling_interval=settings.system_metrics_interval_s,
                resume_logging=True,  # a retried trial continues the run's samples
                tracking_uri=settings.uri,
            )
        monitor.start()
    except Exception as error:
        print(f"system metrics: not sampled ({type(error).__name__}: {error})", flush=True)
        return None
    gpu = any(isinstance(m, GPUMonitor | ROCMMonitor) for m in monitor.monitors)
    print(
        f"system metrics: every {monitor.sampling_interval:g} s to MLflow "
        f"(CPU, memory{', GPU' if gpu else ''})",
        flush=True,
    )
    return monitor


def _stop(monitor: SystemMetricsMonitor) -> None:
    """``finish()`` joins MLflow's thread, which may be inside a request MLflow retries for
    minutes when the server is down: wait for it a bounded time instead."""
    stopper = threading.Thread(target=monitor.finish, name=f"{THREAD_NAME}.stop", daemon=True)
    with bounded_requests():  # its last status check and flush: seconds during an outage
        stopper.start()
        stopper.join(STOP_WAIT_S)
    if stopper.is_alive():
        print(
            f"system metrics: the monitor did not stop within {STOP_WAIT_S:g} s (is MLflow "
            "down?); its thread ends when MLflow gives up",
            flush=True,
        )
