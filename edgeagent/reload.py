"""`systemctl reload edgeagent` (SIGHUP): apply a new config without losing an event.

What a reload may change, and how:

- `[[drivers]]`: compared table by table (by `name`). Only a driver whose
  table changed is stopped and started again with the new options; a new
  table starts a driver, a removed one stops it. Untouched drivers keep
  running (same task, same connection), so their readings never pause.
- `[heuristics]`: a new engine is built and given the old one's snapshot,
  so a pending "bed exit, not back yet" timer survives the reload.
- `[commands]`: applied to the command router in place.

What needs a restart (`home`, `mqtt`, `outbox`, `control`, `[[outputs]]`): the reload is
refused as a whole, with the section named, and the running config stays.
A new config that does not validate is refused the same way. Either way
nothing of the old one stops: the outbox, its `seq` counter and the
publisher are never touched by a reload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from edgeagent import systemd
from edgeagent.config import AgentConfig, load_config
from edgeagent.downlink import CommandRouter
from edgeagent.driver import DriverOptions
from edgeagent.driver_supervisor import DriverSupervisor, enabled
from edgeagent.errors import ConfigError
from edgeagent.pipeline import EventPipeline, build_default_engine
from edgeagent.secrets import check_config_secrets

log = logging.getLogger(__name__)

Apply = Callable[[AgentConfig], Awaitable["ReloadResult"]]

RESTART_SECTIONS = ("home", "mqtt", "outbox", "control")


@dataclass(frozen=True, slots=True)
class DriverDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


@dataclass(slots=True)
class ReloadResult:
    ok: bool
    reason: str = ""
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    heuristics: str = "unchanged"

    def summary(self) -> str:
        if not self.ok:
            return f"reload refused: {self.reason}; the running config stays"
        parts = [f"{what}: {', '.join(names)}" for what, names in (
            ("restarted", self.restarted), ("started", self.started),
            ("stopped", self.stopped)) if names]
        parts.append(f"heuristics {self.heuristics}")
        return "reloaded (" + "; ".join(parts) + ")"


def diff_drivers(old: list[DriverOptions], new: list[DriverOptions]) -> DriverDiff:
    """Which driver tables appeared, disappeared, changed (any key) or stayed the same."""
    before, after = enabled(old), enabled(new)
    changed = tuple(n for n in after if n in before and
                    (type(after[n]) is not type(before[n])
                     or after[n].model_dump() != before[n].model_dump()))
    return DriverDiff(
        added=tuple(n for n in after if n not in before),
        removed=tuple(n for n in before if n not in after),
        changed=changed,
        unchanged=tuple(n for n in after if n in before and n not in changed),
    )


def refusal(old: AgentConfig, new: AgentConfig) -> str | None:
    """Why `new` cannot be applied without a restart, or None."""
    for section in RESTART_SECTIONS:
        if getattr(old, section).model_dump() != getattr(new, section).model_dump():
            return (f"[{section}] changed, which needs a restart "
                    f"(systemctl restart edgeagent)")
    if [o.model_dump() for o in old.outputs] != [o.model_dump() for o in new.outputs]:
        return "[[outputs]] changed, which needs a restart (systemctl restart edgeagent)"
    return None


async def apply(running: AgentConfig, new: AgentConfig, *, pipeline: EventPipeline,
                drivers: DriverSupervisor, router: CommandRouter) -> ReloadResult:
    """Apply `new` to the running components; all or nothing. The caller adopts `new`
    as its config when the result is ok."""
    reason = refusal(running, new)
    if reason is not None:
        return ReloadResult(ok=False, reason=reason)
    try:
        check_config_secrets(new)
    except ConfigError as exc:
        return ReloadResult(ok=False, reason=str(exc))
    result = ReloadResult(ok=True)

    engine = pipeline.engine
    if new.heuristics != running.heuristics:
        try:
            engine = build_default_engine(new)
            engine.restore(pipeline.engine.snapshot())
        except Exception as exc:  # noqa: BLE001 - a bad engine must not replace a good one
            return ReloadResult(ok=False, reason=f"heuristics: {type(exc).__name__}: {exc}")
        result.heuristics = "rebuilt with the running state"

    diff = diff_drivers(running.drivers, new.drivers)
    # Readings already emitted by the stopped drivers are in the engine's hands
    # (emit is synchronous); nothing is buffered in the driver, so nothing is lost.
    await drivers.reconfigure(new.drivers, keep=diff.unchanged)
    pipeline.replace_engine(engine)
    router.configure(allow_changes=new.commands.allow_changes,
                     allow_diagnostics=new.commands.allow_diagnostics,
                     reply_prefix=new.commands.reply_prefix)
    result.started = list(diff.added)
    result.stopped = list(diff.removed)
    result.restarted = list(diff.changed)
    result.unchanged = list(diff.unchanged)
    return result


async def reload_from_file(source: str, apply_config: Apply,
                           counters: dict[str, int]) -> ReloadResult:
    """Read the config file again (the one the agent was started with) and apply it."""
    systemd.notify("RELOADING=1")
    try:
        if source.startswith("<"):
            result = ReloadResult(ok=False, reason="the agent runs on built-in defaults, "
                                                   "there is no file to reload")
        else:
            try:
                new = load_config(source)
            except ConfigError as exc:
                result = ReloadResult(ok=False, reason=str(exc))
            else:
                result = await apply_config(new)
    finally:
        systemd.notify("READY=1")
    # Counted in the status, so whoever sent the HUP (the updater) sees that it took effect.
    counter = "reloads" if result.ok else "reloads_refused"
    counters[counter] = counters.get(counter, 0) + 1
    if result.ok:
        log.warning("%s", result.summary())
    else:
        log.error("%s", result.summary())
    return result


def install_sighup(loop: asyncio.AbstractEventLoop,
                   reload_file: Callable[[], Awaitable[ReloadResult]]) -> None:
    """SIGHUP -> `reload_file()`, one at a time (a second HUP during a reload waits)."""
    import signal  # noqa: PLC0415

    lock = asyncio.Lock()
    tasks: set[asyncio.Task[ReloadResult]] = set()

    async def guarded() -> ReloadResult:
        async with lock:
            return await reload_file()

    def on_hup() -> None:
        task = loop.create_task(guarded(), name="reload")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
