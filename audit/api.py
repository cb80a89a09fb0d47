"""The Python API: ``run_audit(AuditRequest(...))`` returns an ``AuditResult``.

The CLI is a thin shell over this; a notebook calls it directly and renders the result with
``reports``. The request is prepared once (audit.core.prepare), then the core manager runs the
registered stages and checks over it (audit.core.runner).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from audit.core.check import Check
from audit.core.collector import fewer_collections
from audit.core.knowledge import known_checks
from audit.core.prepare import prepare, validate
from audit.core.progress import Progress
from audit.core.registry import CHECKS, STAGES, plugin_checks, plugin_stages, with_plugins
from audit.core.request import AuditRequest
from audit.core.result import AuditResult
from audit.core.runner import run_prepared
from audit.core.stage import Stage
from audit.core.threads import available_cores, compute_threads
from audit.core.trail import TrailDigests, started_at
from audit.stream.dataset import partition_files


def run_audit(
    request: AuditRequest,
    checks: Sequence[Check] | None = None,
    progress: Progress | None = None,
    stages: Sequence[Stage] | None = None,
) -> AuditResult:
    """Run the whole audit. Raises a ``RaiAuditError`` for bad input; never writes files.

    ``checks`` and ``stages`` default to the registry's ``CHECKS`` and ``STAGES`` and the
    installed plugins (entry points, docs/plugins.md), looked up at call time so that a test
    can replace them. ``progress`` hears how far a
    streamed audit's passes are. torch and BLAS compute on ``request.threads`` cores (default:
    all) until it returns.
    """
    clock = time.perf_counter()
    when = started_at()
    validate(request)
    if checks is None:
        checks = with_plugins(CHECKS, plugin_checks(), "check")
    if stages is None:
        stages = with_plugins(STAGES, plugin_stages(), "stage")
    threads = request.threads or available_cores()
    # A model object in this process has no file to hash (audit.models.in_process).
    model_file = request.model if isinstance(request.model, Path) else None
    with (
        fewer_collections(),
        compute_threads(threads),
        TrailDigests(request.data, partial(partition_files, request.data), model_file) as digests,
    ):
        prepared = prepare(request, threads, progress, known_checks(checks))
        return run_prepared(prepared, stages, checks, when, clock, digests)


__all__ = ["AuditRequest", "run_audit"]
