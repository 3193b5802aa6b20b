import numpy as np

from layerdecomp.eval import cases


def test_cases_are_deterministic_by_seed():
    a, b = cases.make_case(7, 96), cases.make_case(7, 96)
    assert a.name == b.name
    for field in ("image", "mask", "background", "foreground", "alpha", "alpha_visible", "hidden"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(cases.make_case(8, 96).image, a.image)


def test_case_is_a_faithful_composite():
    case = cases.make_case(2, (80, 120), occluder=False, mask_kind="exact")
    assert case.image.shape == (80, 120, 3) and case.mask.shape == (80, 120)
    a = case.alpha[..., None]
    recomposed = a * case.foreground + (1 - a) * case.background
    assert np.abs(recomposed - case.image).max() <= 1.0
    assert 0 < case.alpha.max() <= 1 and ((case.alpha > 0) & (case.alpha < 1)).any()  # a soft edge
    assert not case.hidden.any()


def test_occluder_hides_part_of_the_object():
    case = cases.make_case(1, 128, occluder=True)
    assert case.hidden.any()
    assert (case.alpha_visible <= case.alpha + 1e-6).all()
    assert (case.alpha_visible[case.hidden] < 0.5).all()


def test_mask_kinds():
    exact = cases.make_case(3, 128, mask_kind="exact", occluder=False).mask
    large = cases.make_case(3, 128, mask_kind="large", occluder=False).mask
    small = cases.make_case(3, 128, mask_kind="small", occluder=False).mask
    soft = cases.make_case(3, 128, mask_kind="soft", occluder=False).mask
    assert set(np.unique(exact)) <= {0, 255}
    assert (large >= exact).all() and (large > exact).any()
    assert (small <= exact).all() and (small < exact).any()
    assert ((soft > 0) & (soft < 255)).any()


def test_all_photos_load_offline():
    for name in cases.PHOTOS:
        photo = cases.load_photo(name)
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
