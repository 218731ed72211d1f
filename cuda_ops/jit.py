"""numba helpers for the CPU kernels: a cached ``njit`` that degrades gracefully, a prefetch hint and
views that skip reference counting.

numba is a declared dependency, but a broken install must not break counting: without it the
``cpu`` backend reports why it is unavailable and the decorators return plain Python functions.

numba's disk cache checks only the file of the function it caches: the kernels in ``cpu_kernel.py``
and ``label_runs.py`` inline the helpers below, so after editing this file alone, delete the
``*.nbi`` and ``*.nbc`` files in ``cuda_ops/__pycache__`` (or touch those two files), or cached kernels
keep the old helpers (numba issue 1833). Installs and fresh clones are not affected.
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

__all__ = ["IMPORT_ERROR", "borrow", "cached_njit", "numba", "prange", "prefetch", "prefetch_bytes"]


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


def _borrow_intrinsic(typingctx, array, start, stop):
    """``borrow(array, start, stop)``: ``array[start:stop]`` of a 1-D C-contiguous array, without a reference.

    A slice made inside a kernel takes a reference on its parent's memory (an atomic increment, and a
    decrement when it dies): ~5 ns each, 15-25 ns a slice, which a kernel slicing every row or every
    64-pixel block pays again and again (measured in ``docs/benchmarks.md``). This view holds no
    reference, so it must not outlive the call that made it, and it is not bounds-checked: the caller
    guarantees ``0 <= start <= stop <= len(array)``.
    """
    if not (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"):
        return None
    if not (isinstance(start, types.Integer) and isinstance(stop, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        source = context.make_array(signature.args[0])(context, builder, args[0])
        lo = context.cast(builder, args[1], signature.args[1], types.intp)
        hi = context.cast(builder, args[2], signature.args[2], types.intp)
        view = context.make_array(signature.return_type)(context, builder)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(array.dtype)))
        context.populate_array(
            view, data=builder.gep(source.data, [lo]), shape=[builder.sub(hi, lo)], strides=[itemsize],
            itemsize=itemsize, meminfo=None, parent=None,
        )  # fmt: skip
        return view._getvalue()

    return array(array, start, stop), codegen


prefetch = intrinsic(_prefetch_intrinsic) if numba is not None else None
borrow = intrinsic(_borrow_intrinsic) if numba is not None else (lambda array, start, stop: array[start:stop])


@cached_njit()
def prefetch_bytes(array, start, stop):
    """Ask for bytes ``start:stop`` of ``array`` ahead of use: short row spans defeat the hardware prefetcher."""
    for i in range(start, stop, 64):
        prefetch(array, i)
