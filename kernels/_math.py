"""Elementwise helpers shared by several kernel families."""
import triton
import triton.language as tl


@triton.jit
def log1p(y):
    # log(1 + y) for y > -1, a few ulp also where 1 + y rounds to 1 (Goldberg: the rounding
    # error of w = 1 + y cancels in log(w)·y/(w - 1)).
    w = 1.0 + y
    d = w - 1.0
    return tl.where(d == 0.0, y, tl.log(w) * (y / tl.where(d == 0.0, 1.0, d)))
