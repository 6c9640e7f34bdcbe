"""Type stub of the compiled extension fastgan._C (see csrc/bindings.cpp)."""
from typing import Sequence

has_cuda: bool
FILL_BITS: int
FILL_UNIFORM_F32: int
FILL_UNIFORM_F64: int
FILL_NORMAL_F32: int
FILL_NORMAL_F64: int

def philox4x32(counter: Sequence[int], key: Sequence[int]) -> list[int]: ...
def cpu_fill(kind: int, ptr: int, n: int, seed: int, offset: int, num_threads: int = 0) -> None: ...
def cpu_sample_parametric(family: int, out: int, out_dtype: int, rows: int, w: int, r: int, n: int,
                          seed: int, offset: int, num_threads: int = 0) -> None: ...
def cpu_sample_tabulated(mode: int, out: int, out_dtype: int, table: int, table_dtype: int, sup: int,
                         sup_dtype: int, start: int, lens: int, sstart: int, r: int, n: int, seed: int,
                         offset: int, num_threads: int = 0) -> None: ...
def cpu_categorical_table(w: int, w_dtype: int, r: int, k: int, out: int, num_threads: int = 0) -> None: ...
SAMPLE_F32: int
SAMPLE_F64: int
SAMPLE_I64: int
def cuda_fill(kind: int, ptr: int, n: int, seed: int, offset: int, stream: int, device: int) -> None: ...
def curand_reference(ptr: int, n: int, seed: int, offset: int, stream: int) -> None: ...
has_curand: bool
