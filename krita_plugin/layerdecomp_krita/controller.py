"""One "Decompose Selection" from trigger to result: read, send off the GUI thread, follow, write.

The network job runs in a worker thread; it hands its events (status, progress, result, failure) to a
queue that a GUI-thread timer drains, so Krita's GUI never waits on the network and the document is
only touched from the GUI thread, once, when a complete result is in hand. Cancel ends the job for the
artist at once; the worker tells the server and winds down on its own, and whatever it still delivers
is dropped.

Qt-free: the window-facing parts come in through ``ui`` (see ``ui.QtUI``), so the logic runs against a
fake ``krita`` in tests.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple

from . import after_write, canvas, client, config, messages
from .progress import ProgressView
from . import settings as settings_module
from .messages import Notice, UserError

log = logging.getLogger("layerdecomp_krita")

PUMP_MS = 50
WATCH_MS = 100  # how often the latest split's document is checked for its undo


@dataclass
class Job:
    source: canvas.Source
    settings: settings_module.Settings
    cancel: threading.Event = field(default_factory=threading.Event)
    events: "queue.Queue[Tuple[str, Any]]" = field(default_factory=queue.Queue)
    thread: Optional[threading.Thread] = None
    state: str = "starting"  # starting, working (the server reported progress), then gone
    view: ProgressView = field(default_factory=ProgressView)
    # A cancelled job's worker still winding down when this one started: the server may finish that job
    # first, so say so instead of a silent wait.
    after_cancelled: bool = False


class Controller:
    """``krita``: ``Krita.instance()`` (or a fake). ``ui``: shows progress and messages, runs timers."""

    def __init__(self, krita: Any, ui: Any, run_job: Callable = client.run_job) -> None:
        self.krita = krita
        self.ui = ui
        self.run_job = run_job
        self.job: Optional[Job] = None
        # (level, code, text) of every message shown; the log has them too.
        self.messages: List[Tuple[str, str, str]] = []
        self.last_group: Any = None
        self.last_written: Optional[canvas.Written] = None
        self.after_write: Optional[after_write.AfterWrite] = None  # the follow-up still in progress
        self._stop_pump: Optional[Callable[[], None]] = None
        self._stop_watch: Optional[Callable[[], None]] = None
        self._cancelled_worker: Optional[threading.Thread] = None  # may still be telling the server

    # -- entry points (GUI thread) ------------------------------------------------------------------

    def load_settings(self) -> settings_module.Settings:
        return settings_module.load(self.krita.readSetting)

    def trigger(self) -> None:
        """The action: decompose the active layer over the active document's selection."""
        if self.job is not None or self.after_write is not None:
            self._tell("warning", messages.busy())
            return
        try:
            settings = self.load_settings()
            document = self.krita.activeDocument()
            node = document.activeNode() if document is not None else None
            margin = settings.margin if settings.margin >= 0 else None
            source = canvas.read_source(document, node, margin)
        except UserError as error:
            self._tell("error", error)
            return
        self.start(source, settings)

    def start(self, source: canvas.Source, settings: settings_module.Settings) -> Job:
        job = Job(source, settings)
        job.after_cancelled = self._cancelled_worker is not None and self._cancelled_worker.is_alive()
        job.thread = threading.Thread(target=self._work, args=(job,), name="layerdecomp-job", daemon=True)
        self.job = job
        job.thread.start()
        self.ui.show_progress("Decomposing the selection…", self.cancel)
        self._stop_pump = self.ui.start_timer(self.poll, PUMP_MS)
        return job

    def cancel(self) -> None:
        """The progress dialog's Cancel: the document stays as it is, whatever the server does next."""
        job = self.job
        if job is None:
            return
        job.cancel.set()
        self._cancelled_worker = job.thread
        self._end(job, messages.cancelled(), "info")

    def poll(self) -> None:
        """Drain the worker's events (timer callback); the dialog shows where the last of them left off."""
        job = self.job
        if job is None:
            self._stop_timer()
            return
        shown: Optional[Tuple[str, Optional[float]]] = None
        while self.job is job:
            try:
                kind, payload = job.events.get_nowait()
            except queue.Empty:
                break
            if kind == "status":
                if payload == client.WORKING and job.state == "starting" and self._previous_still_stopping(job):
                    payload = messages.WAITING_FOR_CANCELLED
                shown = (payload, None)
            elif kind == "progress":
                stage, fraction = payload
                job.state = "working"
                shown = job.view.update(stage, fraction)
            elif kind == "announced":
                settings_module.remember_announced(payload, self.krita.writeSetting)
            elif kind == "result":
                self._close(job)
                level, outcome = self._write(job, payload)
                self._end(job, outcome, level)
            elif kind == "failed":
                self._end(job, payload, "error")
        if shown is not None and self.job is job:
            self.ui.update_progress(*shown)

    def _previous_still_stopping(self, job: Job) -> bool:
        previous = self._cancelled_worker
        return job.after_cancelled and previous is not None and previous.is_alive()

    # -- worker thread ----------------------------------------------------------------------------

    def _work(self, job: Job) -> None:
        source = job.source
        request = client.JobRequest(source.crop.w, source.crop.h, source.image, source.mask, source.margin,
                                    source.grow)
        try:
            result = self.run_job(job.settings, request, job.cancel,
                                  lambda kind, payload: job.events.put((kind, payload)))
            job.events.put(("result", result))
        except UserError as error:
            job.events.put(("failed", error))
        except Exception as exc:  # a bug: still say something useful, and keep the document as it is
            log.exception("the decomposition job failed")
            job.events.put(("failed", UserError("bug", f"Something went wrong: {exc}. {messages.UNCHANGED}")))

    # -- helpers (GUI thread) -----------------------------------------------------------------------

    def _write(self, job: Job, result: client.JobResult) -> Tuple[str, Notice]:
        try:
            canvas.check_still_applies(job.source, list(self.krita.documents()))
            written = canvas.write_result(job.source, result, defer_show=self._in_view(job.source.document))
        except UserError as error:
            return "error", error
        except Exception as exc:  # a bug or a Krita surprise while building the layers (nothing inserted)
            log.exception("writing the result failed")
            return "error", messages.write_failed(str(exc))
        self.last_group, self.last_written = written.group, written
        source = job.source
        upgrade = canvas.mask_upgrade(self.krita, source, result, written)
        self._start_after_write(after_write.AfterWrite(self.krita, source.document, source.node, written, upgrade),
                                after_write.SourceAfterUndo(self.krita, source.document, source.node, written.group))
        name, group = source.node.name(), written.group.name()
        if not source.node.visible():
            return "info", Notice("done", messages.done_hidden(name, group))
        return "info", Notice("done", messages.done(name, group, source_hidden=written.hide_source))

    def _in_view(self, document: Any) -> bool:
        """Whether Krita shows ``document`` in the active view (its GUI actions then act on it)."""
        try:
            return (hasattr(self.krita, "action") and self.krita.activeWindow() is not None
                    and self.krita.activeDocument() == document)
        except Exception:
            return False

    def _start_after_write(self, follow_up: after_write.AfterWrite, watch: after_write.SourceAfterUndo) -> None:
        """Run the follow-up on timer ticks (it waits for Krita's event loop; its first step runs at once),
        then watch for the split's undo (only the latest split is watched)."""
        self.after_write = follow_up
        self._stop_watching()
        stop: List[Callable[[], None]] = []

        def tick() -> None:
            if follow_up.step():
                if stop:
                    stop.pop()()
                if self.after_write is follow_up:
                    self.after_write = None
                    self._watch(watch)

        stop.append(self.ui.start_timer(tick, PUMP_MS))
        tick()

    def _watch(self, watch: after_write.SourceAfterUndo) -> None:
        def tick() -> None:
            if watch.step():
                self._stop_watching()

        self._stop_watch = self.ui.start_timer(tick, WATCH_MS)

    def _stop_watching(self) -> None:
        if self._stop_watch is not None:
            self._stop_watch()
            self._stop_watch = None

    def _close(self, job: Job) -> None:
        """Stop following the job: no more timer ticks, no progress dialog (so no late Cancel)."""
        self._stop_timer()
        self.ui.close_progress()

    def _end(self, job: Job, outcome: Notice, level: str) -> None:
        """The job is over: say how it ended, then let the next one start. (Krita may run its event
        loop inside the calls above; until here, ``self.job`` still says a job is in hand.)"""
        self._close(job)
        self._tell(level, outcome)
        if self.job is job:
            self.job = None

    def _stop_timer(self) -> None:
        if self._stop_pump is not None:
            self._stop_pump()
            self._stop_pump = None

    def _tell(self, level: str, notice: Notice) -> None:
        text = notice.message
        if level == "error":  # where to look: the technical detail is in the log
            text = f"{text} {messages.log_hint(str(config.log_dir()))}"
        self.messages.append((level, notice.code, text))
        getattr(log, level)("[%s] %s%s", notice.code, notice.message,
                            f" (detail: {notice.detail})" if notice.detail else "")
        self.ui.notify(level, text)
