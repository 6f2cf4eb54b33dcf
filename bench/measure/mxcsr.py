"""The x86 MXCSR register from numba: set or clear its flush-to-zero bits in every thread of numba's pool.

Compiled once and cached on disk (``cache=True``, module level so the cache is found again); imported
only where the subnormal policy is applied (:mod:`bench.measure.subnormals`), so ``--help`` never loads numba.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

__all__ = ["FTZ_DAZ", "set_pool"]

FTZ_DAZ = 0x8040  # MXCSR bit 15 (flush to zero) and bit 6 (denormals are zero)


@intrinsic
def _mxcsr_update(typingctx, set_bits, clear_bits):
    """MXCSR <- (MXCSR & ~clear_bits) | set_bits; returns the old MXCSR (LLVM's SSE intrinsics)."""
    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p])
        store = builder.module.declare_intrinsic("llvm.x86.sse.stmxcsr", fnty=fnty)
        load = builder.module.declare_intrinsic("llvm.x86.sse.ldmxcsr", fnty=fnty)
        slot = builder.alloca(ir.IntType(32))
        ptr = builder.bitcast(slot, i8p)
        builder.call(store, [ptr])
        old = builder.load(slot)
        builder.store(builder.or_(builder.and_(old, builder.not_(args[1])), args[0]), slot)
        builder.call(load, [ptr])
        return old
    return types.uint32(types.uint32, types.uint32), codegen


@njit(parallel=True, cache=True)
def set_pool(flush, n, tiny):  # pragma: no cover - compiled
    """One prange iteration per numba thread (numba splits ``n`` = its thread count evenly): set or clear
    FTZ/DAZ there; returns each iteration's old MXCSR, thread id, and whether ``tiny * tiny`` read as 0."""
    old = np.zeros(n, np.uint32)
    tid = np.zeros(n, np.int64)
    zero = np.zeros(n, np.bool_)
    for i in prange(n):
        if flush:
            old[i] = _mxcsr_update(np.uint32(0x8040), np.uint32(0))
        else:
            old[i] = _mxcsr_update(np.uint32(0), np.uint32(0x8040))
        tid[i] = numba.get_thread_id()
        zero[i] = tiny[i] * tiny[i] == 0  # float32: 1e-40 is subnormal
    return old, tid, zero
