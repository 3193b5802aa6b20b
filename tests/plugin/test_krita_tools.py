"""Right after a split, in Krita's real GUI (under Xvfb), with Krita's own input paths (mouse and keys
through Qt's window-system entry points): the move tool carries all of the Object, the menu item and the
docker's button are greyed with nothing selected (the shortcut then says what to do), Esc cancels a job
shown in the docker, and a small selection on a big transparent layer keeps the document small.

The network job is replaced by the library's result; the driver plugin (gui_driver/, its tools_script
module) performs the steps and reports."""

from __future__ import annotations

import json

from .test_krita_gui import krita_profile, run_krita_session
from .test_krita_undo import coffee_case


def test_move_tool_keys_and_a_big_transparent_layer_in_krita_gui(tmp_path, krita_launcher):
    out = tmp_path / "out"
    out.mkdir()
    env = krita_profile(tmp_path)
    opaque = coffee_case(tmp_path)
    (tmp_path / "driver.json").write_text(json.dumps({"out": str(out), "script": "tools",
                                                      "undo_cases": {"opaque": opaque}}))

    result, log = run_krita_session(krita_launcher, env, tmp_path, out)
    print(f"Krita {result.get('krita_version')}")
    assert result["errors"] == [], "\n".join(result["errors"]) + "\n" + log[-3000:]
    cases = result["cases"]

    # The move tool, dragged over the canvas right after the split: all of the Object moves (its pixels
    # shifted as a whole: no rim left behind, nothing clipped), the clean plate and the source untouched.
    move = cases["move"]
    print(f"move tool: canvas {move['canvas']}, zoom {move['zoom']}, dragged from {move['press_at']}, "
          f"the Object moved by {move['moved_by']}")
    assert move["active"] == "coffee – object" and move["selection"] is False, move
    assert move["moved_by"] != [0, 0], move
    assert move["object_moved_whole"], move
    assert move["object_alpha_sum"][0] == move["object_alpha_sum"][1] > 0, move
    assert move["plate_unchanged"] and move["source_unchanged"], move

    # Greyed with nothing selected, in the Select menu (while it is open) and in the docker; enabled with
    # a selection; the shortcut with nothing selected says what to do.
    greyed = cases["greyed"]
    assert greyed["menu_found"] and greyed["docker_found"], greyed
    assert greyed["selected"]["in_menu"] is True and greyed["selected"]["button"] is True, greyed
    assert greyed["nothing_selected"]["in_menu"] is False, greyed
    assert greyed["nothing_selected"]["button"] is False, greyed
    assert "Select" in greyed["nothing_selected"]["button_tip"], greyed
    assert greyed["nothing_selected"]["after_menu"] is True, greyed  # so the shortcut still answers
    assert [m[:2] for m in greyed["shortcut_messages"]] == [["error", "no_selection"]], greyed

    # Esc cancels the job whose progress is in the docker; the document as it was.
    escape = cases["escape in docker"]
    assert escape["in_docker"] is True
    assert [m[:2] for m in escape["messages"]] == [["info", "cancelled"]], escape
    assert escape["job_ended"] and escape["worker_stopped"] and escape["after"] == escape["before"], escape

    # A small selection on a 6000x4000 transparent layer: the clean plate and the hole are the result's box;
    # what grows beyond that is the group Krita composites the source with its result in (its projection).
    big = cases["big transparent"]
    assert [m[:2] for m in big["messages"]] == [["info", "done"]], big["messages"]
    growth = big["size_after"] - big["size_before"]
    print(f"6000x4000 transparent, 128x290 selected: pixel data {big['size_before'] / 2**20:.1f} MiB -> "
          f"{big['size_after'] / 2**20:.1f} MiB; longest GUI block {big['longest_block_s'] * 1000:.0f} ms of "
          f"the GUI thread's CPU time (longest wall-clock gap {big['longest_wall_gap_s'] * 1000:.0f} ms)")
    print(f"layers: {big['nodes']}")
    # bottom to top: the source, then the result (pass-through): the hole, the clean plate, the Object
    assert [n[0].split(" – ")[-1] for n in big["nodes"]] == [
        "big transparent (split)", "Background", "result", "hole", "clean plate", "object"], big["nodes"]
    wrappers = [n for n in big["nodes"] if n[1] == "grouplayer" and not n[4]]
    assert len(wrappers) == 1, big["nodes"]
    beyond_wrapper = growth - wrappers[0][2] * wrappers[0][3] * 4
    assert 0 < beyond_wrapper < 0.1 * big["full_layer"], big["nodes"]
    # Most of the longest block is Krita's own Quick Group compositing the 6000x4000 source into its new
    # group (110-140 ms of GUI-thread CPU on a quiet machine, 230 ms seen under a load of 7 on 2 cores):
    # the bound here catches a whole-layer copy coming back (about 1 s), not the 0.2 s goal (README).
    assert big["longest_block_s"] < 0.5, big["longest_blocks"]
