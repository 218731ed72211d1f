"""numba helpers for the CPU kernels: a cached ``njit`` that degrades gracefully, and a prefetch hint.

numba is a declared dependency, but a broken install must not break counting: without it the
``cpu`` backend reports why it is unavailable and the decorators return plain Python functions.
"""

from __future__ import annotations

from collections.abc import Callable

try:
    import numba
    from llvmlite import ir
    from numba import njit, prange, types
    from numba.core import cgutils
    from numba.extending import intrinsic
except ImportError as exc:
    numba = None
    prange = range
    IMPORT_ERROR: str | None = f"numba cannot be imported ({exc})"
else:
    IMPORT_ERROR = None

__all__ = ["IMPORT_ERROR", "cached_njit", "numba", "prange", "prefetch_bytes"]


def cached_njit(parallel: bool = False) -> Callable:
    """``njit`` with an on-disk cache where the package folder (or numba's user cache) is writable.

    numba raises at decoration time when it finds no writable cache location (a read-only install
    without ``NUMBA_CACHE_DIR``); the kernel then compiles on first use in every process instead.
    """

    def decorate(fn: Callable) -> Callable:
        if numba is None:
            return fn
        try:
            return njit(cache=True, parallel=parallel, boundscheck=False, nogil=True)(fn)
        except RuntimeError:
            return njit(cache=False, parallel=parallel, boundscheck=False, nogil=True)(fn)

    return decorate


def _prefetch_intrinsic(typingctx, array, index):
    """``prefetch(array, i)``: hint the cache to fetch the line holding byte ``i`` of a contiguous array."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        address = builder.gep(builder.bitcast(data, ir.IntType(8).as_pointer()), [args[1]])
        i32 = ir.IntType(32)
        hint = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, hint, "llvm.prefetch.p0")
        builder.call(fn, [address, i32(0), i32(3), i32(1)])  # read, keep in all levels, data cache
        return context.get_dummy_value()

    return types.void(array, index), codegen


_prefetch = intrinsic(_prefetch_intrinsic) if numba is not None else None


@cached_njit()
def prefetch_bytes(array, start, stop):
    """Ask for bytes ``start:stop`` of ``array`` ahead of use: short row spans defeat the hardware prefetcher."""
    for i in range(start, stop, 64):
        _prefetch(array, i)
