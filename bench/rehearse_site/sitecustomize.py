"""For `bench/gpu_check.sh --rehearse` only (its folder is put first on PYTHONPATH there): make
the packages named in $SMOOT_BLOCK_IMPORTS (comma-separated) unimportable, as they are on the lent
GPU machine (no Ray, MLflow or Captum), so that the rehearsal fails where the device would."""

import os
import sys

_BLOCKED = {name.strip() for name in os.environ.get("SMOOT_BLOCK_IMPORTS", "").split(",")
            if name.strip()}


class _Blocked:
    """A meta-path finder, first in line: a blocked package (or any module inside it) is not
    found, exactly as if it were not installed."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".", 1)[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not on the GPU machine; "
                                      f"blocked by the rehearsal)", name=name)
        return None


if _BLOCKED:
    sys.meta_path.insert(0, _Blocked())
