"""Bit intrinsics on uint64 words: for the kernels that keep vertex sets as bitsets, the 128-bit
product that the streaming number parser and writer scale by powers of ten with, and the bits of
a float64 (whose integer minimum vectorises where a float minimum does not)."""

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic


@intrinsic
def leading_zeros(typingctx, word):
    """Count of leading zero bits of a uint64 (64 for zero)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctlz(args[0], context.get_constant(types.boolean, False))

    return sig, codegen


@intrinsic
def trailing_zeros(typingctx, word):
    """Count of trailing zero bits of a uint64 (64 for zero)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], context.get_constant(types.boolean, False))

    return sig, codegen


@intrinsic
def ones(typingctx, word):
    """Number of set bits of a uint64."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@intrinsic
def mul128(typingctx, a, b):
    """The 128-bit product of two uint64 as (high word, low word): one machine multiply."""
    if a != types.uint64 or b != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        high = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        low = builder.trunc(product, ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, (high, low))

    return types.UniTuple(types.uint64, 2)(types.uint64, types.uint64), codegen


@intrinsic
def float64_bits(typingctx, value):
    """Reinterpret a float64 as its int64 bit pattern (no conversion). For floats >= +0.0 (and
    +inf) the patterns order as the floats do."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def bits_float64(typingctx, bits):
    """Reinterpret an int64 bit pattern as a float64 (``float64_bits``' inverse)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen
