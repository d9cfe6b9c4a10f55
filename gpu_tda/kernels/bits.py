"""Bit intrinsics on uint64 words, for the kernels that keep vertex sets as bitsets."""

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
