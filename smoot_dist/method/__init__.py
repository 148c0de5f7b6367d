"""The method: saliency, masking, the SMOOT controller, the loss, and the step that joins them
(specified in docs/method.md). Also the library API: SGT or SMOOT in a training loop of your
own (docs/api.md, examples/own_loop.py):

    method = MethodConfig(name="smoot", k0=0.5, k_min=0.2, k_max=0.8)
    validate_method(method)                              # one ConfigError line if out of range
    state = MaskState.initial(len(train_set), method.k0)  # k_i, keyed by dataset index
    for idx, x, y in loader:                             # idx: each sample's dataset index
        out = method_step(method, model, model, x, y, state.get(idx))
        optimizer.zero_grad(); out.loss.backward(); optimizer.step()
        if out.new_k is not None:                        # SMOOT's updated k for the batch
            state.set(idx, out.new_k)
    k_statistics(state.k, 28 * 28, method.k_min, method.k_max)  # min / median / max K ...
"""

from ..config import MethodConfig, validate_method
from ..foundations.errors import ConfigError
from .controller import update_k
from .kstats import k_statistics, k_stats_payload, summarize_k_stats
from .loss import saliency_guided_loss
from .mask_state import MaskState, read_mask_parquet, write_mask_parquet
from .masking import apply_mask, lowest_saliency_mask, mask_counts
from .saliency import input_saliency
from .step import StepResult, method_step

__all__ = [
    "ConfigError", "MaskState", "MethodConfig", "StepResult", "apply_mask", "input_saliency",
    "k_statistics", "k_stats_payload", "lowest_saliency_mask", "mask_counts", "method_step",
    "read_mask_parquet", "saliency_guided_loss", "summarize_k_stats", "update_k",
    "validate_method", "write_mask_parquet",
]
