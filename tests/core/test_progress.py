import threading

import pytest

from layerdecomp.progress import UNFINISHED_CAP, ProgressSplitter


def test_weighted_figure_in_stage_order_and_one_only_when_all_parts_are_done():
    reports = []
    splitter = ProgressSplitter(lambda stage, fraction: reports.append((stage, fraction)), [("alpha", 1), ("fill", 3)])
    alpha, fill = splitter.part("alpha"), splitter.part("fill")
    alpha(0.0)
    fill(0.5)
    assert reports[-1] == ("alpha", pytest.approx(0.375))  # 0.5 of the fill's 3/4 share; the edge is first
    alpha(1.0)
    assert reports[-1] == ("fill", pytest.approx(0.625))
    fill(0.4)  # a part going back does not move the figure back
    assert reports[-1][1] == pytest.approx(0.625)
    fill(1.0)
    assert reports[-1] == ("fill", 1.0)


def test_never_one_while_a_part_is_unfinished():
    reports = []
    splitter = ProgressSplitter(lambda stage, fraction: reports.append((stage, fraction)),
                                [("alpha", 1), ("fill", 1000)])
    splitter.part("fill")(1.0)  # the fill done first: the figure is nearly full, but the edge still works
    assert reports[-1] == ("alpha", UNFINISHED_CAP)
    splitter.part("alpha")(1.0)
    assert reports[-1] == ("fill", 1.0)


def test_nothing_after_close_and_reports_from_threads_are_serialised():
    reports = []
    splitter = ProgressSplitter(lambda stage, fraction: reports.append(fraction), [("alpha", 1), ("fill", 1)])
    workers = [threading.Thread(target=lambda i=i: [splitter.part("fill")(k / 100) for k in range(i, 100, 4)])
               for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert reports == sorted(reports)
    splitter.close()
    splitter.part("alpha")(1.0)
    assert max(reports) < 1.0


def test_bad_parts_are_refused():
    with pytest.raises(ValueError):
        ProgressSplitter(lambda stage, fraction: None, [("alpha", 0)])
    with pytest.raises(KeyError):
        ProgressSplitter(lambda stage, fraction: None, [("alpha", 1)]).part("fill")
