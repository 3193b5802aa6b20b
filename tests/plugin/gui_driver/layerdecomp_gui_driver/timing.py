"""Where the GUI thread's time goes during a split (opt-in: the driver's ``"timing": true``).

Wraps the plugin's GUI-thread entry points and the Krita calls they make in place (module functions and
class methods, looked up at call time) and records each call's GUI-thread CPU time (``time.thread_time``)
and wall time. ``blame(t0, t1)`` then names the calls inside one heartbeat gap, so a long block reads as
"write_result 80 ms, of which covers_source 30 ms". Nothing of this runs unless the driver asks for it.
"""

import functools
import threading
import time

# (module, owner: a class name or None for the module's functions, names)
WRAPPED = (
    ("controller", "Controller", ("trigger", "start", "poll", "_write", "_close", "_end", "_tell",
                                  "_start_after_write", "_watch")),
    ("canvas", None, ("read_source", "selection_bounds", "check_still_applies", "write_result", "covers_source",
                      "_clean_plate", "_object_layer", "_object_layers", "_insert_group", "insert_above", "names_for",
                      "mask_upgrade", "has_hidden_parts", "_hole", "contains_node", "_digest", "_any_both")),
    ("after_write", "AfterWrite", ("step", "_deselect", "_has_view")),
    ("after_write", "SourceAfterUndo", ("step",)),
    ("docker", None, ("something_selected", "active_docker")),
    ("docker", "LayerDecompDocker", ("show_progress", "close_progress", "update_progress", "refresh",
                                     "_poll_answer", "_update_decompose_button", "show_server_state",
                                     "_fill_methods")),
    ("docker", "EscapeCancels", ("eventFilter",)),
    ("ui", "QtUI", ("show_progress", "close_progress", "notify", "update_progress", "start_timer")),
)


class Timing:
    def __init__(self):
        self.calls = []  # (name, depth, cpu0, cpu1, wall0, wall1)
        self.depth = 0
        self.gui = threading.get_ident()
        self.patched = []

    def wrap(self, owner, name, label):
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        timing = self

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if threading.get_ident() != timing.gui:
                return original(*args, **kwargs)
            timing.depth += 1
            c0, w0 = time.thread_time(), time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                timing.depth -= 1
                timing.calls.append((label, timing.depth, c0, time.thread_time(), w0, time.monotonic()))

        setattr(owner, name, timed)
        self.patched.append((owner, name, original))

    def install(self):
        import importlib

        for module_name, owner_name, names in WRAPPED:
            module = importlib.import_module(f"layerdecomp_krita.{module_name}")
            owner = getattr(module, owner_name) if owner_name else module
            for name in names:
                if (owner.__dict__ if isinstance(owner, type) else vars(owner)).get(name) is not None:
                    self.wrap(owner, name, f"{owner_name or module_name}.{name}")
        return self

    def uninstall(self):
        for owner, name, original in reversed(self.patched):
            setattr(owner, name, original)
        self.patched = []

    def blame(self, cpu0, cpu1, top=12):
        """The calls that ran inside the GUI-thread CPU interval [cpu0, cpu1], longest first (nested calls
        included, with their depth): [name, depth, CPU ms, wall ms]."""
        inside = [c for c in self.calls if c[2] >= cpu0 - 1e-6 and c[3] <= cpu1 + 1e-6]
        inside.sort(key=lambda c: c[3] - c[2], reverse=True)
        # A call that began before the gap and ended after it ran Krita's event loop inside (the beats too).
        around = [c for c in self.calls if c[2] < cpu0 - 1e-6 and c[3] > cpu1 + 1e-6]
        return ([[c[0], c[1], round((c[3] - c[2]) * 1000, 1), round((c[5] - c[4]) * 1000, 1)] for c in inside[:top]]
                + [["around: " + c[0], c[1], round((c[3] - c[2]) * 1000, 1), round((c[5] - c[4]) * 1000, 1)]
                   for c in around])

    def totals(self):
        """CPU ms and count per name over the whole recording (the event filter is many small calls)."""
        out = {}
        for name, _depth, c0, c1, _w0, _w1 in self.calls:
            total, count = out.get(name, (0.0, 0))
            out[name] = (total + (c1 - c0) * 1000, count + 1)
        return {k: [round(v[0], 1), v[1]] for k, v in sorted(out.items(), key=lambda kv: -kv[1][0])}
