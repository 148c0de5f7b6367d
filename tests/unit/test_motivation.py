import torch

from smoot_dist.workflows.motivation import rises_then_falls


def test_rise_then_fall_needs_a_later_peak_above_both_ends():
    curves = torch.tensor([
        [0.9, 0.7, 0.5, 0.1],    # falls from the start
        [0.5, 0.8, 0.6, 0.2],    # rises, then falls
        [0.2, 0.4, 0.6, 0.9],    # only rises
        [0.5, 0.505, 0.3, 0.1],  # a rise within the tolerance does not count
        [0.5, 0.5, 0.9, 0.85],   # peak then a fall of 0.05
    ])
    assert rises_then_falls(curves, tolerance=0.01).tolist() == [False, True, False, False, True]
    assert rises_then_falls(curves, tolerance=0.1).tolist() == [False, True, False, False, False]
