"""``loop_helper``: how the kernels compile the small functions their hot loops call.

numba counts references to the arrays a function holds, with an atomic add for each, and a
compiled function increfs the arrays it is given and decrefs them on return. Its pruning pass
removes only the pairs it can match inside one function: a helper with branches, called in a
loop (or inlined at numba's level with ``inline="always"``), cost one pair per array argument
per call, about 13 ns. ``classify_edges`` spent 45% of its time in them (one pair per edge) and
a whole maxdim-1 window of 128 points a third (9% after this, in kernels that allocate). A
helper compiled without numba's runtime takes its arrays borrowed and counts nothing; LLVM
still inlines it where it pays.

Such a helper may read and write the arrays it is given, and take views of them, but must not
allocate an array or return one.
"""

import numba as nb

loop_helper = nb.njit(cache=True, nogil=True, _nrt=False)
"""The decorator of those helpers (``_nrt=False``: numba's option that leaves its runtime out)."""
