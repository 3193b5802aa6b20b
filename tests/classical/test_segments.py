import numpy as np

from layerdecomp import segments


def two_regions(size=160, boundary=70, seed=0):
    """A reddish textured top over a bluish textured bottom, split at row ``boundary``."""
    rng = np.random.default_rng(seed)
    image = np.empty((size, size, 3), np.float32)
    image[:boundary] = (180, 70, 50)
    image[boundary:] = (50, 90, 180)
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_regions_continue_through_the_hole():
    image = two_regions()
    hole = np.zeros((160, 160), bool)
    hole[40:110, 50:110] = True  # crosses the boundary at row 70
    labels = segments.region_map(image, hole)
    top, bottom = labels[10, 80], labels[150, 80]
    assert top != bottom
    rows = np.arange(160)[:, None].repeat(160, axis=1)
    right = np.where(rows < 70, top, bottom)
    assert (labels[hole] == right[hole]).mean() > 0.9


def test_uniform_context_is_one_region():
    image = np.full((64, 64, 3), 120, np.uint8)
    hole = np.zeros((64, 64), bool)
    hole[20:40, 20:40] = True
    labels = segments.region_map(image, hole)
    assert (labels == 0).all()


def test_a_small_object_beside_the_hole_is_not_stretched_into_it():
    image = two_regions(200, boundary=100)
    image[55:91, 4:40] = (250, 250, 250)  # a small white badge touching the hole's left side
    hole = np.zeros((200, 200), bool)
    hole[50:150, 38:150] = True
    labels = segments.region_map(image, hole)
    badge = labels[70, 25]
    assert badge not in (labels[10, 100], labels[190, 100])
    assert not (labels[hole] == badge).any()
