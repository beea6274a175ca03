"""``python -m bench.seeded_rasa SEED <rasa arguments>``: the ``rasa`` command line, with numpy's
global random generator seeded first.

Rasa 3.6 splits cross-validation folds with ``StratifiedKFold(shuffle=True)`` and no seed, so two
configurations would be scored on different splits. The folds are drawn once, from numpy's global
generator, before any training, so with the same seed both configurations get the same folds and
the difference between their scores is theirs alone.
"""

from __future__ import annotations

import sys

import numpy as np
from rasa.__main__ import main

if __name__ == "__main__":
    np.random.seed(int(sys.argv[1]))
    sys.argv = ["rasa", *sys.argv[2:]]
    main()
