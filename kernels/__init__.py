"""Triton kernels of fastgan, one module per op family (installed as ``fastgan.kernels``).

Import these modules only after ``TRITON_INTERPRET`` has its final value: ``triton.jit``
decides at decoration time whether a kernel is compiled or interpreted.
"""
