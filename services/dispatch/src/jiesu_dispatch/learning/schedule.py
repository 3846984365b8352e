"""The learning loop's periodic jobs: forgetting history past the retention, retraining."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta

from jiesu_common.runtime import ServiceContext
from jiesu_dispatch.settings import DispatchSettings

log = logging.getLogger(__name__)


async def forget_old_history(context: ServiceContext) -> int:
    """Drop training history and shadow rows closed before the retention."""
    settings = context.settings
    assert isinstance(settings, DispatchSettings)
    cutoff = datetime.now(UTC) - timedelta(days=settings.learning_retention_days)
    async with context.uow() as uow:
        removed: int = await uow.learning.forget_before(cutoff)  # type: ignore[attr-defined]
        await uow.commit()
    if removed:
        log.info("learning history past the retention removed", extra={"rows": removed})
    return removed


async def retrain(context: ServiceContext) -> int:
    """Retrain both models into challengers, in a child process: training loads
    scikit-learn and jieba's full dictionary, which the serving process never holds.
    Replicas may all run this; a lock lets one train, and unchanged history is skipped."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "jiesu_dispatch.learning",
        "--database-url",
        context.settings.database.url,
        "train",
        "--kind",
        "all",
        "--scheduled",
        stdout=asyncio.subprocess.DEVNULL,
    )
    code = await proc.wait()
    if code != 0:
        log.warning("scheduled retraining failed", extra={"exit_code": code})
    return code
