"""Everything the plugin tells an artist, in one place, in words an artist understands.

``UserError`` is a failure with a message ready to show; ``for_server_error`` turns the server's error
codes (``protocol.ErrorCode``) into such messages. Every failure message says that the picture was not
changed, because that is true and it is the first thing an artist wants to know.
"""

from __future__ import annotations

from .protocol import DEFAULT_PORT

UNCHANGED = "Your picture was not changed."
TITLE = "Decompose Selection"


class Notice:
    """Something to tell the artist: a sentence, with a short machine-readable ``code`` (logs and tests
    use it) and technical ``detail`` for the log only. A success is one; a failure is a ``UserError``."""

    def __init__(self, code: str, message: str, detail: str = "") -> None:
        self.code = code
        self.message = message
        self.detail = detail  # technical detail for the log, never shown to the artist


class UserError(Notice, Exception):
    """A failure to report as is: a ``Notice`` that is raised."""

    def __init__(self, code: str, message: str, detail: str = "") -> None:
        Notice.__init__(self, code, message, detail)
        Exception.__init__(self, message)


# --- before anything is sent -------------------------------------------------------------------------

def no_document() -> UserError:
    return UserError("no_document", "Open a picture first, then select the object to separate.")


def no_layer() -> UserError:
    return UserError("no_layer", "Select the paint layer that holds the object in the Layers docker, then try again.")


def not_paint_layer(kind: str) -> UserError:
    names = {"grouplayer": "a group layer", "vectorlayer": "a vector layer", "filelayer": "a file layer",
             "clonelayer": "a clone layer", "filllayer": "a fill layer", "adjustmentlayer": "a filter layer",
             "transparencymask": "a transparency mask", "selectionmask": "a selection mask",
             "filtermask": "a filter mask", "transformmask": "a transform mask", "colorizemask": "a colorize mask"}
    what = names.get(kind, f"a {kind}")
    if kind == "grouplayer" or kind.endswith("mask"):
        # Converting a group would flatten it (a split result, say): point inside instead.
        return UserError(
            "not_paint_layer",
            f"The active layer is {what}. In the Layers docker, select the paint layer that holds the object "
            "(inside the group, or the layer the mask belongs to), then try again.",
        )
    return UserError(
        "not_paint_layer",
        f"The active layer is {what}. Select the paint layer that holds the object (or convert this one "
        "to a paint layer with Layer › Convert › Convert to Paint Layer), then try again.",
    )


def unsupported_color(model: str, depth: str) -> UserError:
    models = {"RGBA": "RGB", "GRAYA": "greyscale", "CMYKA": "CMYK", "LABA": "L*a*b*", "XYZA": "XYZ",
              "YCbCrA": "YCbCr"}
    depths = {"U8": "8-bit", "U16": "16-bit", "F16": "16-bit float", "F32": "32-bit float"}
    what = f"{depths.get(depth, depth)} {models.get(model, model)}"
    return UserError(
        "unsupported_color",
        f"This layer is {what}; Decompose Selection works on 8-bit RGB layers. Convert the image with "
        "Image › Convert Image Color Space… (RGB/Alpha, 8-bit integer/channel) — or only this layer with "
        "Layer › Convert › Convert Layer Color Space… — then try again.",
    )


def no_selection() -> UserError:
    return UserError(
        "no_selection",
        "Nothing is selected. Select the object to separate (for example with the Freehand or Magnetic "
        "Selection tool), then choose Decompose Selection again.",
    )


def empty_selection() -> UserError:
    return UserError(
        "empty_selection",
        "The selection is empty inside the picture. Select the object to separate, then try again.",
    )


def whole_image() -> UserError:
    return UserError(
        "whole_image",
        "The whole picture is selected. Select only the object to separate (Select › Deselect, then draw "
        "around the object), then try again.",
    )


def nothing_to_decompose(layer_name: str) -> UserError:
    return UserError(
        "nothing_to_decompose",
        f"The layer “{layer_name}” is empty (fully transparent) where you selected, so there is nothing to "
        "separate. Select the object on the layer that holds it, then try again. " + UNCHANGED,
    )


def busy() -> UserError:
    return UserError("busy", "A decomposition is already running; wait for it to finish or cancel it first.")


# --- while talking to the server ---------------------------------------------------------------------

SETTINGS = "the Layer Decomposition docker's Settings (or Tools › Scripts › Decompose Selection Settings…)"


def log_hint(folder: str) -> str:
    """Added to every failure message: where the details are ("Show log files" in the docker opens it)."""
    return f"Details are in the log files in {folder} (the docker's “Show log files” opens it)."


def unreachable(url: str, remote: bool = False) -> UserError:
    """``remote``: automatic start is on but the address is not on this computer."""
    hint = (f"Turn on “Start the server on this computer when it is not running” in {SETTINGS}, or run the "
            "installer again if the server is not installed.")
    if remote:
        hint = "The server address is on another computer, so it cannot be started from here: start it there."
    return UserError("unreachable", f"Could not reach the decomposition server. {hint} {UNCHANGED}",
                     detail=f"nothing answers at {url}")


def nothing_answers(url: str, starts_by_itself: bool) -> UserError:
    """The settings dialog's Test connection found no server."""
    if starts_by_itself:
        return UserError("unreachable", "No server is running at this address right now. It will be started "
                         "when you use Decompose Selection.", detail=f"nothing answers at {url}")
    return UserError("unreachable", "No server answers at this address. Start the server, or turn on starting it "
                     "automatically.", detail=f"nothing answers at {url}")


def no_token(token_file: str, starts_by_itself: bool) -> UserError:
    """There is no token file yet, so the plugin cannot tell its server from another program: it sends nothing."""
    if starts_by_itself:
        hint = ("Start the server once (it makes the file), or point “Access key file” (Advanced) in "
                f"{SETTINGS} at the server's token file.")
    else:
        hint = ("Start the server once (run: layerdecomp serve; it makes the file), or turn on starting it "
                f"automatically, or point “Access key file” (Advanced) in {SETTINGS} at its token file.")
    return UserError("no_token", f"There is no access key file at {token_file} yet, so nothing was sent to the "
                     f"server. {hint} {UNCHANGED}")


def bad_token(detail: str) -> UserError:
    return UserError("token", f"The access key file cannot be used: {detail}. {UNCHANGED}")


def connected(server: str, backend: str, device: str) -> str:
    """What the settings dialog's Test connection found."""
    kind = device.split(":")[0].lower()
    where = {"cpu": "the processor (CPU)", "cuda": "the graphics card (GPU)", "mps": "the graphics chip (GPU)"}
    return (f"Connected to {server or 'the server'}: method “{backend}”, running on "
            f"{where.get(kind, device)}.")


def bad_address(url: str, detail: str) -> UserError:
    return UserError(
        "bad_address",
        f"The server address “{url}” is not a valid address. Enter one like ws://127.0.0.1:{DEFAULT_PORT} in "
        f"{SETTINGS} {UNCHANGED}", detail=detail,
    )


def server_lost() -> UserError:
    return UserError(
        "server_lost",
        "The decomposition server stopped while working on the picture (it may have crashed or been "
        f"closed). Start it again and retry. {UNCHANGED}",
    )


def server_start_failed(command: str, detail: str) -> UserError:
    return UserError(
        "server_start_failed",
        "Could not start the decomposition server on this computer. Run the installer again to repair it, or "
        f"check “Server start command” under Advanced in {SETTINGS}. "
        + UNCHANGED, detail=f"{command!r}: {detail}",
    )


def server_confused(detail: str) -> UserError:
    return UserError(
        "protocol",
        "The server answered something this plugin does not understand. Make sure the plugin and the server "
        f"come from the same version (install both again with the installer). {UNCHANGED}", detail=detail,
    )


WORKING = "Working…"
STARTING_SERVER = "Starting the local server…"
WAITING_FOR_CANCELLED = "Waiting for the server to stop the cancelled decomposition…"


def cancelled() -> UserError:
    return UserError("cancelled", f"Cancelled. {UNCHANGED}")


def document_gone() -> UserError:
    return UserError("document_gone", "The picture was closed before the result arrived; nothing was added.")


def layer_gone() -> UserError:
    return UserError("layer_gone", f"The layer was deleted before the result arrived; nothing was added. {UNCHANGED}")


def layer_changed() -> UserError:
    return UserError(
        "layer_changed",
        "The layer was painted on while the decomposition ran, so the result no longer fits it. "
        f"Run Decompose Selection again. {UNCHANGED}",
    )


def write_failed(detail: str) -> UserError:
    return UserError("write_failed", f"Could not add the result layers ({detail}). {UNCHANGED}")


_SERVER_ERRORS = {
    "unauthorized": "The server refused this plugin's access token. In Decompose Selection Settings, point "
                    "“Access key file” (Advanced) at the server's token file ({token_file}).",
    "server_unverified": "The program answering at the server address could not prove it is your layerdecomp "
                         "server, so the picture was not sent. If it is your server, point “Access key file” "
                         "(Advanced) in Decompose Selection Settings at its token file ({token_file}); if not, "
                         "another program holds the port: choose another port.",
    "unauthentic": "A message that claimed to come from your layerdecomp server did not carry its session's "
                   "signature: another program may be interfering with the connection.",
    "unsupported_version": "The plugin and the server are different versions ({detail}). Install matching "
                           "versions of both.",
    "too_large": "The selection is too large for the server: {detail}.",
    "busy": "The server is busy with other pictures. Try again in a moment.",
    "backend_unavailable": "The server cannot use the chosen method: {detail}. Choose another method in the "
                           "Layer Decomposition docker (the ones this server runs are not greyed out), or "
                           "“The server's choice”.",
    "invalid_input": "The server could not work on this selection: {detail}.",
    "shutting_down": "The server is shutting down. Start it again and retry.",
    "timeout": "The picture took too long to reach the server. Try again.",
    "internal_error": "The server ran into a problem: {detail}.",
}


def for_server_error(code: str, detail: str, token_file: str = "") -> UserError:
    """A server ``error`` message (its code and sentence) as an artist-facing ``UserError``."""
    if code == "cancelled":
        return cancelled()
    template = _SERVER_ERRORS.get(code, "The server reported a problem: {detail}.")
    detail = detail.rstrip(". ")
    return UserError(code, template.format(detail=detail, token_file=token_file) + " " + UNCHANGED)


def done(layer_name: str, group_name: str, source_hidden: bool) -> str:
    where = ("The original layer is hidden below it." if source_hidden
             else "The original layer stays below it, unchanged.")
    return f"Separated “{layer_name}” into the group “{group_name}”. {where} Undo (Ctrl+Z) takes it back."


def done_hidden(layer_name: str, group_name: str) -> str:
    return (f"Separated “{layer_name}” into the group “{group_name}”. Like “{layer_name}”, the new group is "
            "hidden: show it in the Layers docker to see it.")


# The setting "One layer per separate part" (settings dialog and docker).
PARTS_LABEL = "One layer per separate part"
PARTS_HELP = ("A selection made of separate parts (several objects lassoed with Shift) gives one Object layer "
              "per part, each movable on its own, over one clean plate with all of them removed. Off: one "
              "Object layer holds them all.")
